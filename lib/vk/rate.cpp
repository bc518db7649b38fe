#include "vk/rate.hpp"

#include <algorithm>
#include <thread>

namespace facecat::vk {

RateLimiter::RateLimiter(double rps, double burst, double margin)
    : interval_(margin / std::max(rps, 0.001)), burst_(std::max(burst, 1.0)), tokens_(1.0), last_(Clock::now()) {}

void RateLimiter::refill(Clock::time_point now) const {
  double dt = std::chrono::duration<double>(now - last_).count();
  tokens_ = std::min(burst_, tokens_ + dt / interval_);
  last_ = now;
}

double RateLimiter::wait_seconds() const {
  refill(Clock::now());
  return tokens_ >= 1.0 ? 0.0 : (1.0 - tokens_) * interval_;
}

void RateLimiter::acquire(const std::function<void(std::chrono::milliseconds)>& idle) {
  for (;;) {
    double w = wait_seconds();
    if (w <= 0) break;
    auto ms = std::chrono::milliseconds(static_cast<int64_t>(w * 1000.0) + 1);
    if (idle) idle(ms);
    else std::this_thread::sleep_for(ms);
  }
  tokens_ -= 1.0;
}

}  // namespace facecat::vk
