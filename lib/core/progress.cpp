#include "core/progress.hpp"

#include <cstdio>

namespace facecat {

Progress::Progress(std::string label, uint64_t total, bool enabled)
    : label_(std::move(label)), total_(total), enabled_(enabled), start_(std::chrono::steady_clock::now()) {}

Progress::~Progress() { finish(); }

void Progress::set_total(uint64_t total) { total_ = total; }

void Progress::tick(uint64_t n) {
  done_ += n;
  if (enabled_) draw(false);
}

void Progress::draw(bool force) {
  std::unique_lock lk(mu_, std::try_to_lock);
  if (!lk.owns_lock()) return;
  auto now = std::chrono::steady_clock::now();
  if (!force && now - last_ < std::chrono::milliseconds(100)) return;
  last_ = now;
  uint64_t d = done_, t = total_;
  double secs = std::chrono::duration<double>(now - start_).count();
  double rate = secs > 0 ? d / secs : 0;
  char bar[41];
  int filled = t ? static_cast<int>(40.0 * std::min<uint64_t>(d, t) / t) : 0;
  for (int i = 0; i < 40; ++i) bar[i] = i < filled ? '#' : '.';
  bar[40] = 0;
  if (t)
    std::fprintf(stderr, "\r%s [%s] %llu/%llu %.0f/s ", label_.c_str(), bar, (unsigned long long)d,
                 (unsigned long long)t, rate);
  else
    std::fprintf(stderr, "\r%s %llu %.0f/s ", label_.c_str(), (unsigned long long)d, rate);
  std::fflush(stderr);
  drawn_ = true;
}

void Progress::finish() {
  if (!enabled_) return;
  draw(true);
  if (drawn_) std::fprintf(stderr, "\n");
  enabled_ = false;
}

}  // namespace facecat
