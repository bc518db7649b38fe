// A read-only file for random access (pread): header parsers read only the bytes they need.
#pragma once
#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <string>

namespace facecat::util {

class PreadFile {
 public:
  explicit PreadFile(const std::filesystem::path& p) : fd_(::open(p.c_str(), O_RDONLY | O_CLOEXEC)) {}
  ~PreadFile() {
    if (fd_ >= 0) ::close(fd_);
  }
  PreadFile(const PreadFile&) = delete;
  PreadFile& operator=(const PreadFile&) = delete;
  bool ok() const { return fd_ >= 0; }
  // Reads up to n bytes at off; returns what was read (shorter at the end of the file, empty on error).
  std::string read(uint64_t off, size_t n) const {
    std::string s(n, '\0');
    ssize_t r = ::pread(fd_, s.data(), n, static_cast<off_t>(off));
    s.resize(r > 0 ? static_cast<size_t>(r) : 0);
    return s;
  }

 private:
  int fd_;
};

}  // namespace facecat::util
