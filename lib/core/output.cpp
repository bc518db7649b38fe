#include "core/output.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "core/signals.hpp"
#include "util/text.hpp"

namespace facecat {

std::string to_jsonl(const json& record) {
  return record.dump(-1, ' ', false, json::error_handler_t::replace);
}

void emit(const json& record) {
  std::string line = to_jsonl(record);
  line += '\n';
  const char* p = line.data();
  size_t n = line.size();
  while (n > 0) {
    ssize_t w = ::write(STDOUT_FILENO, p, n);  // unbuffered: one write per record
    if (w < 0) {
      if (errno == EINTR) continue;
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
