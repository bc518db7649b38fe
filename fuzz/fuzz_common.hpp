// Shared by the fuzz targets: one scratch file per process for the readers that take a path.
#pragma once
#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace facecat::fuzz {

inline std::string_view as_view(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// A temp file (mode 0600) that lives as long as the process; rewritten for every input.
class ScratchFile {
 public:
  ScratchFile() {
    const char* t = std::getenv("TMPDIR");
    path_ = std::string(t && *t ? t : "/tmp") + "/facecat-fuzz-XXXXXX";
    fd_ = ::mkstemp(path_.data());
    if (fd_ < 0) std::abort();
  }
  ~ScratchFile() {
    ::close(fd_);
    ::unlink(path_.c_str());
  }
  const std::string& write(std::string_view bytes) {
    if (::ftruncate(fd_, 0) != 0) std::abort();
    size_t off = 0;
    while (off < bytes.size()) {
      ssize_t w = ::pwrite(fd_, bytes.data() + off, bytes.size() - off, static_cast<off_t>(off));
      if (w <= 0) std::abort();
      off += static_cast<size_t>(w);
    }
    return path_;
  }

 private:
  std::string path_;
  int fd_ = -1;
};

}  // namespace facecat::fuzz
