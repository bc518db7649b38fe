#include "util/atomic_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <random>
#include <vector>

namespace facecat::util {
namespace {

// A fixed table of temp paths so a signal handler can unlink them without allocating.
constexpr size_t kMaxTemps = 256;
constexpr size_t kMaxPath = 4096;
struct TempSlot {
  std::atomic<bool> used{false};
  char path[kMaxPath];
};
std::array<TempSlot, kMaxTemps> g_temps;
std::mutex g_temps_mu;

std::string errno_text(int e) { return std::strerror(e); }

}  // namespace

void register_temp_file(const std::filesystem::path& p) {
  const auto& s = p.native();
  if (s.size() + 1 > kMaxPath) return;
  std::lock_guard lk(g_temps_mu);
  for (auto& slot : g_temps) {
    if (!slot.used.load()) {
      std::memcpy(slot.path, s.c_str(), s.size() + 1);
      slot.used.store(true);
      return;
    }
  }
}

void unregister_temp_file(const std::filesystem::path& p) {
  std::lock_guard lk(g_temps_mu);
  for (auto& slot : g_temps) {
    if (slot.used.load() && p.native() == slot.path) {
      slot.used.store(false);
      return;
    }
  }
}

void remove_registered_temp_files() noexcept {
  for (auto& slot : g_temps) {
    if (slot.used.load()) {
      ::unlink(slot.path);
      slot.used.store(false);
    }
  }
}

bool is_atomic_temp_name(std::string_view n) {
  constexpr size_t kSuffix = 5 + 16;  // ".tmp." + 16 hex digits
  if (n.size() < 2 + kSuffix || n[0] != '.') return false;
  const auto suffix = n.substr(n.size() - kSuffix);
  if (suffix.substr(0, 5) != ".tmp.") return false;
  return suffix.substr(5).find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

int remove_atomic_temps(const std::filesystem::path& dir, const std::function<bool(std::string_view)>& target,
                        std::optional<std::filesystem::file_time_type> older_than) {
  constexpr size_t kSuffix = 5 + 16;  // ".tmp." + 16 hex digits
  std::error_code ec;
  std::vector<std::filesystem::path> stale;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string n = it->path().filename().string();
    std::error_code e2;
    if (!is_atomic_temp_name(n) || it->is_symlink(e2) || !it->is_regular_file(e2)) continue;
    if (target && !target(std::string_view(n).substr(1, n.size() - 1 - kSuffix))) continue;
    if (older_than) {
      const auto t = std::filesystem::last_write_time(it->path(), e2);
      if (e2 || t >= *older_than) continue;
    }
    stale.push_back(it->path());
  }
  int removed = 0;
  for (const auto& p : stale) {
    std::error_code e2;
    if (std::filesystem::remove(p, e2)) ++removed;
  }
  return removed;
}

AtomicFile::AtomicFile(std::filesystem::path target, std::filesystem::path tmp, int fd, bool direct)
    : target_(std::move(target)), tmp_(std::move(tmp)), fd_(fd), direct_(direct) {}

AtomicFile::AtomicFile(AtomicFile&& o) noexcept
    : target_(std::move(o.target_)), tmp_(std::move(o.tmp_)), fd_(o.fd_), committed_(o.committed_),
      direct_(o.direct_) {
  o.fd_ = -1;
  o.committed_ = true;  // the moved-from object owns nothing
}

Result<AtomicFile> AtomicFile::create(const std::filesystem::path& target_in, int mode) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  std::filesystem::path target = target_in;
  struct stat st {};
  if (::lstat(target.c_str(), &st) == 0 && S_ISLNK(st.st_mode)) {
    // Written through: the file the link points to is replaced, never the link.
    char* real = ::realpath(target.c_str(), nullptr);
    if (!real)
      return make_error(target.string() + " is a symbolic link to a missing file (" + errno_text(errno) +
                        "); facecat writes through links but does not replace them");
    target = real;
    std::free(real);
  }
  int keep_mode = -1;  // an existing file keeps its permissions (facecat never re-permissions a file silently)
  if (::stat(target.c_str(), &st) == 0 && S_ISREG(st.st_mode)) keep_mode = static_cast<int>(st.st_mode & 07777);
  if (::stat(target.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
    if (S_ISDIR(st.st_mode)) return make_error(target.string() + " is a folder, not a file");
    if (S_ISBLK(st.st_mode) || S_ISSOCK(st.st_mode))
      return make_error(target.string() + " is a " + (S_ISBLK(st.st_mode) ? "block device" : "socket") +
                        "; facecat writes only regular files, character devices and FIFOs");
    // A character device or a FIFO (/dev/null, /dev/stdout, a named pipe): written in place, never replaced.
    int fd = ::open(target.c_str(), O_WRONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) return make_error("cannot open " + target.string() + ": " + errno_text(errno));
    return AtomicFile(target, {}, fd, true);
  }
  auto dir = target.parent_path();
  if (dir.empty()) dir = ".";
  for (int attempt = 0; attempt < 8; ++attempt) {
    char suffix[32];
    std::snprintf(suffix, sizeof suffix, ".tmp.%016llx", static_cast<unsigned long long>(rng()));
    // Hidden temp name in the same folder, so rename() is atomic and scanners skip it.
    std::string name = ".";
    name.append(target.filename().string());
    name.append(suffix);
    auto tmp = dir / name;
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd >= 0) {
      if (keep_mode >= 0) (void)::fchmod(fd, static_cast<mode_t>(keep_mode));
      register_temp_file(tmp);
      return AtomicFile(target, tmp, fd);
    }
    if (errno != EEXIST) return make_error("cannot create " + tmp.string() + ": " + errno_text(errno));
  }
  return make_error("cannot create a temp file beside " + target.string());
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_ && !direct_) {
    ::unlink(tmp_.c_str());
    unregister_temp_file(tmp_);
  }
}

Result<void> AtomicFile::write(const void* data, size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = ::write(fd_, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return make_error("cannot write " + tmp_.string() + ": " + errno_text(errno));
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
  return {};
}

Result<void> AtomicFile::write(std::string_view data) { return write(data.data(), data.size()); }

Result<void> AtomicFile::commit() {
  if (direct_) {
    int rc = ::close(fd_);
    fd_ = -1;
    committed_ = true;
    if (rc != 0) return make_error("cannot close " + target_.string() + ": " + errno_text(errno));
    return {};
  }
  if (::fsync(fd_) != 0) return make_error("cannot sync " + tmp_.string() + ": " + errno_text(errno));
  if (::close(fd_) != 0) {
    fd_ = -1;
    return make_error("cannot close " + tmp_.string() + ": " + errno_text(errno));
  }
  fd_ = -1;
  if (::rename(tmp_.c_str(), target_.c_str()) != 0)
    return make_error("cannot rename " + tmp_.string() + " to " + target_.string() + ": " + errno_text(errno));
  committed_ = true;
  unregister_temp_file(tmp_);
  return {};
}

Result<void> write_file_atomic(const std::filesystem::path& target, std::string_view data, int mode) {
  auto f = AtomicFile::create(target, mode);
  if (!f) return f.error();
  FACECAT_TRY(f->write(data));
  return f->commit();
}

Result<std::string> read_file(const std::filesystem::path& p, size_t max_bytes) {
  int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return make_error(p.string() + ": " + errno_text(errno));
  std::string out;
  char buf[1 << 16];
  for (;;) {
    ssize_t r = ::read(fd, buf, sizeof buf);
    if (r < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      return make_error(p.string() + ": " + errno_text(e));
    }
    if (r == 0) break;
    if (out.size() + static_cast<size_t>(r) > max_bytes) {
      ::close(fd);
      return make_error(p.string() + ": larger than " + std::to_string(max_bytes) + " bytes");
    }
    out.append(buf, static_cast<size_t>(r));
  }
  ::close(fd);
  return out;
}

Result<std::string> read_file_head(const std::filesystem::path& p, size_t n) {
  int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return make_error(p.string() + ": " + errno_text(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return make_error(p.string() + ": not a regular file");
  }
  std::string out(n, '\0');
  size_t got = 0;
  while (got < n) {
    ssize_t r = ::read(fd, out.data() + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      int e = errno;
      ::close(fd);
      return make_error(p.string() + ": " + errno_text(e));
    }
    if (r == 0) break;
    got += static_cast<size_t>(r);
  }
  ::close(fd);
  out.resize(got);
  return out;
}

}  // namespace facecat::util
