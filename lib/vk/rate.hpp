// A token bucket that keeps API calls under VK's per-token limit (3/s for user and service tokens, 20/s for
// community tokens). The bucket holds one token by default, so calls are evenly spaced; the spacing carries a
// 10 % margin (VK counts on its side, and clocks and networks jitter), so no 1 s window ever sees more than
// `rps` calls.
#pragma once
#include <chrono>
#include <functional>

namespace facecat::vk {

class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  explicit RateLimiter(double rps, double burst = 1.0, double margin = 1.1);
  // Takes one token, waiting as long as needed. While waiting, idle(max_wait) is called (e.g. to run downloads);
  // without idle, the thread sleeps.
  void acquire(const std::function<void(std::chrono::milliseconds)>& idle = {});
  // Seconds until the next token is available (0 when one is ready).
  double wait_seconds() const;
  double interval_seconds() const { return interval_; }

 private:
  void refill(Clock::time_point now) const;
  double interval_;  // seconds per token
  double burst_;
  mutable double tokens_;
  mutable Clock::time_point last_;
};

}  // namespace facecat::vk
