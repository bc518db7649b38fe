#include "core/output.hpp"

#include <limits.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "core/progress.hpp"
#include "core/signals.hpp"
#include "util/text.hpp"

namespace facecat {

std::string to_jsonl(const json& record) {
  return record.dump(-1, ' ', false, json::error_handler_t::replace);
}

namespace {
std::recursive_mutex g_hook_mutex;  // a printer's on_other may emit() again
std::function<void(const json&)> g_hook;
}  // namespace

void set_emit_hook(std::function<void(const json&)> hook) {
  std::lock_guard<std::recursive_mutex> lock(g_hook_mutex);
  g_hook = std::move(hook);
}

void emit(const json& record) {
  {
    std::lock_guard<std::recursive_mutex> lock(g_hook_mutex);
    if (g_hook) {
      g_hook(record);
      return;
    }
  }
  emit_jsonl(record);
}

void write_stdout(const std::string& text) {
  static const bool terminal = stdout_is_tty();
  ProgressPause above_the_bar(terminal);
  std::fputs(text.c_str(), stdout);
  std::fflush(stdout);
}

void emit_jsonl(const json& record) {
  std::string line = to_jsonl(record);
  line += '\n';
  const char* p = line.data();
  size_t n = line.size();
  static const bool terminal = stdout_is_tty();
  ProgressPause above_the_bar(terminal);  // a record on the terminal goes above a progress bar, not onto it
  while (n > 0) {
    // Wait for room with a timeout, so that a stop request is seen even while the reader is not reading (a full
    // pipe): a blocked write() is interrupted only when the signal happens to hit this thread, and TBB's workers
    // write too. After POLLOUT a pipe has room for PIPE_BUF bytes, so a write of at most that never blocks.
    pollfd pfd{STDOUT_FILENO, POLLOUT, 0};
    int pr = ::poll(&pfd, 1, 200);
    if (pr <= 0) {
      if (interrupted()) throw Interrupted();
      if (pr == 0 || errno == EINTR) continue;
    }
    ssize_t w = ::write(STDOUT_FILENO, p, std::min<size_t>(n, PIPE_BUF));
    if (w < 0) {
      if (errno == EINTR || errno == EAGAIN) {
        if (interrupted()) throw Interrupted();
        continue;
      }
      if (errno == EPIPE) throw BrokenPipe();
      throw std::runtime_error(std::string("cannot write to stdout: ") + std::strerror(errno));
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
}

void put_path(json& record, const std::string& raw, const char* key) {
  if (util::is_valid_utf8(raw)) {
    record[key] = raw;
  } else {
    record[key] = util::utf8_lossy(raw);
    record[std::string(key) + "_b64"] = util::base64_encode(raw);
  }
}

std::string get_path(const json& record, const char* key) {
  auto b64 = record.find(std::string(key) + "_b64");
  if (b64 != record.end() && b64->is_string()) {
    auto raw = util::base64_decode(b64->get<std::string>());
    return raw ? *raw : std::string();
  }
  auto it = record.find(key);
  if (it != record.end() && it->is_string()) return it->get<std::string>();
  return {};
}

bool stdout_is_tty() { return ::isatty(STDOUT_FILENO) == 1; }
bool stderr_is_tty() { return ::isatty(STDERR_FILENO) == 1; }

bool fancy_stderr() {
  const char* term = std::getenv("TERM");
  return stderr_is_tty() && !(term && std::strcmp(term, "dumb") == 0);
}

}  // namespace facecat
