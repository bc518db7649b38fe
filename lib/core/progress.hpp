// A one-line progress bar on stderr, drawn only when stderr is a terminal (fancy_stderr()) and at most ~10×/s.
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

namespace facecat {

class Progress {
 public:
  Progress(std::string label, uint64_t total, bool enabled);
  ~Progress();
  void set_total(uint64_t total);
  void tick(uint64_t n = 1);
  void finish();

 private:
  void draw(bool force);
  std::string label_;
  std::atomic<uint64_t> done_{0};
  std::atomic<uint64_t> total_;
  bool enabled_;
  bool drawn_ = false;
  std::mutex mu_;
  std::chrono::steady_clock::time_point start_, last_;
};

}  // namespace facecat
