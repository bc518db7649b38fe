#include "core/progress.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "util/text.hpp"

namespace facecat {

namespace {

// The terminal: the bar on screen, log lines and records on a terminal stdout all write under this mutex.
std::mutex& terminal_mutex() {
  static std::mutex mu;
  return mu;
}
const Progress* g_active = nullptr;  // the bar on screen (one at a time), guarded by terminal_mutex()
bool g_drawn = false;                // its line holds a bar now

int terminal_columns() {
  winsize ws{};
  if (::ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  return 80;
}

void write_stderr(std::string_view s) {
  std::fwrite(s.data(), 1, s.size(), stderr);
  std::fflush(stderr);
}

// With the terminal mutex held.
void clear_locked() {
  if (g_drawn) write_stderr("\r\x1b[K");
  g_drawn = false;
}
void draw_locked() {
  if (!g_active) return;
  std::string line = "\r";
  line += g_active->render(terminal_columns());
  line += "\x1b[K";
  write_stderr(line);
  g_drawn = true;
}

// Terminal columns of UTF-8 text (one per code point: good enough for file names).
size_t columns(std::string_view s) {
  return static_cast<size_t>(std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}
// The last `width` columns of s, starting with "…" when something was cut.
std::string keep_tail(std::string_view s, size_t width) {
  if (columns(s) <= width) return std::string(s);
  if (width == 0) return {};
  size_t cols = 0, i = s.size();
  while (i > 0 && cols < width - 1) {
    --i;
    if ((s[i] & 0xC0) != 0x80) ++cols;
  }
  std::string out = "\u2026";
  out += s.substr(i);
  return out;
}
// The first `width` columns of s.
std::string keep_head(std::string_view s, size_t width) {
  size_t cols = 0, i = 0;
  for (; i < s.size(); ++i) {
    if ((s[i] & 0xC0) != 0x80 && cols++ == width) break;
  }
  return std::string(s.substr(0, i));
}

std::string clock_text(double seconds) {
  const long s = static_cast<long>(seconds + 0.5);
  char buf[32];
  if (s >= 3600) std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
  else std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
  return buf;
}

}  // namespace

Progress::Progress(std::string label, uint64_t total, bool enabled)
    : label_(util::printable(label)), total_(total), enabled_(enabled), start_(std::chrono::steady_clock::now()) {
  if (!enabled_) return;
  {
    std::lock_guard lk(terminal_mutex());
    if (g_active) {  // one bar at a time
      enabled_ = false;
      return;
    }
    g_active = this;
    draw_locked();
  }
  ticker_ = std::thread([this] { ticker(); });
}

Progress::~Progress() { finish(); }

void Progress::set_total(uint64_t total) { total_ = total; }

void Progress::tick(uint64_t n, std::string_view current) {
  done_ += n;
  if (!enabled_ || current.empty()) return;
  std::unique_lock lk(terminal_mutex(), std::try_to_lock);  // never wait for the terminal: the next tick will do
  if (lk.owns_lock()) current_ = util::printable(current);
}

void Progress::ticker() {
  std::unique_lock lk(stop_mu_);
  while (!stop_cv_.wait_for(lk, std::chrono::milliseconds(100), [this] { return stop_; })) {
    std::lock_guard term(terminal_mutex());
    draw_locked();
  }
}

std::string Progress::render(int cols) const {
  const uint64_t d = done_, t = total_;
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double rate = secs > 0 ? d / secs : 0;
  char buf[160];
  std::string line = label_;
  if (t) {
    const uint64_t shown = std::min(d, t);
    const int filled = static_cast<int>(20 * shown / t);
    line += " [";
    line.append(static_cast<size_t>(filled), '#');
    line.append(static_cast<size_t>(20 - filled), '.');
    line += ']';
    std::snprintf(buf, sizeof buf, " %llu/%llu %3d%% %.1f/s", static_cast<unsigned long long>(d),
                  static_cast<unsigned long long>(t), static_cast<int>(100 * shown / t), rate);
    line += buf;
    line += " ETA ";
    line += d > 0 && rate > 0 ? clock_text(static_cast<double>(t - shown) / rate) : std::string("-:--");
  } else {
    std::snprintf(buf, sizeof buf, " %llu %.1f/s", static_cast<unsigned long long>(d), rate);
    line += buf;
  }
  const size_t width = static_cast<size_t>(std::max(cols, 2) - 1);  // the last column would wrap the line
  const size_t used = columns(line);
  if (used >= width) return keep_head(line, width);
  if (!current_.empty() && width - used > 8) {
    line += ' ';
    line += keep_tail(current_, width - used - 1);
  }
  return line;
}

void Progress::finish() {
  if (!enabled_) return;
  {
    std::lock_guard lk(stop_mu_);
    stop_ = true;
  }
  stop_cv_.notify_all();
  if (ticker_.joinable()) ticker_.join();
  std::lock_guard lk(terminal_mutex());
  clear_locked();
  g_active = nullptr;
  enabled_ = false;
}

ProgressPause::ProgressPause(bool active) {
  if (!active) return;
  lock_ = std::unique_lock(terminal_mutex());
  clear_locked();
}

ProgressPause::~ProgressPause() {
  if (lock_.owns_lock()) draw_locked();
}

}  // namespace facecat
