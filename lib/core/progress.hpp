// A one-line progress bar on stderr, drawn only when stderr is a terminal (fancy_stderr()): the count (of the
// total when known), percentage, rate, ETA and the current file, redrawn about 10×/s by a ticker thread.
//
// The terminal is shared through one mutex: a log line (core/log's terminal sink) or a record on a terminal
// stdout (core/output's emit) is written inside a ProgressPause, which clears the bar's line, lets the line be
// written, and draws the bar again below it. So log lines stack up above the bar, never on it, and finish() clears
// the bar: nothing of it is left behind, only the lines printed around it (the tool's final summary).
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

namespace facecat {

class Progress {
 public:
  Progress(std::string label, uint64_t total, bool enabled);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;
  void set_total(uint64_t total);
  // n more items done; current names the item just handled (a path; shown at the end of the line).
  void tick(uint64_t n = 1, std::string_view current = {});
  // Clears the bar and stops the ticker. Idempotent; the destructor calls it.
  void finish();

  // The bar's text for a terminal this many columns wide (never wider than columns - 1). For tests.
  std::string render(int columns) const;

 private:
  void ticker();
  std::string label_;
  std::atomic<uint64_t> done_{0};
  std::atomic<uint64_t> total_;
  bool enabled_;
  std::chrono::steady_clock::time_point start_;
  std::string current_;  // guarded by the terminal mutex
  std::thread ticker_;
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stop_ = false;
};

// Holds the terminal: while it lives, the progress bar (if one is shown) is cleared and nothing else writes to the
// terminal; the bar is drawn again when it ends. active=false does nothing (e.g. stdout is not a terminal).
class ProgressPause {
 public:
  explicit ProgressPause(bool active = true);
  ~ProgressPause();
  ProgressPause(const ProgressPause&) = delete;
  ProgressPause& operator=(const ProgressPause&) = delete;

 private:
  std::unique_lock<std::mutex> lock_;
};

}  // namespace facecat
