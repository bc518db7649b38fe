// Write a file through a temp file in the same folder and rename it into place on commit() (ccache's AtomicFile).
// The destructor does not commit: a file that was not committed never becomes visible, half-written or not.
// Only regular files are replaced this way:
//  - a target that is a character device or a FIFO (/dev/null, /dev/stdout, a named pipe) is written directly, in
//    place, and never replaced; a block device, a socket or a folder is refused;
//  - a target that is a symbolic link is written through to the file it points to (atomically there, beside that
//    file); the link itself is never replaced. A link to nothing is refused.
// A new file gets `mode` less the umask; a file that is replaced keeps the permissions it had.
#pragma once
#include <cstdio>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "util/result.hpp"

namespace facecat::util {

class AtomicFile {
 public:
  static Result<AtomicFile> create(const std::filesystem::path& target, int mode = 0644);
  AtomicFile(AtomicFile&& o) noexcept;
  AtomicFile& operator=(AtomicFile&&) = delete;
  AtomicFile(const AtomicFile&) = delete;
  ~AtomicFile();

  Result<void> write(std::string_view data);
  Result<void> write(const void* data, size_t n);
  // fsync, close and rename over the target.
  Result<void> commit();
  const std::filesystem::path& temp_path() const { return tmp_; }

 private:
  AtomicFile(std::filesystem::path target, std::filesystem::path tmp, int fd, bool direct = false);
  std::filesystem::path target_, tmp_;
  int fd_ = -1;
  bool committed_ = false;
  bool direct_ = false;  // writing a device or FIFO in place: no temp file, no rename
};

// Convenience: write the whole content atomically.
Result<void> write_file_atomic(const std::filesystem::path& target, std::string_view data, int mode = 0644);
Result<std::string> read_file(const std::filesystem::path& p, size_t max_bytes = 1u << 30);
// The first n bytes of a file (fewer when it is shorter): for sniffing a file's kind from its content.
Result<std::string> read_file_head(const std::filesystem::path& p, size_t n);

// AtomicFile's temp names: ".<target name>.tmp.<16 hex digits>".
bool is_atomic_temp_name(std::string_view file_name);
// Removes the AtomicFile temp files directly in `dir` (left by a process that was killed while writing), regular
// files only, never links: call it only for a folder facecat owns that this process is about to rewrite.
// `target` (when given) keeps only the temps whose target name ("x.xmp" of ".x.xmp.tmp.<hex>") it accepts, and
// `older_than` only those last written before that time (a run writing beside this one keeps its files).
// Returns how many were removed.
int remove_atomic_temps(const std::filesystem::path& dir,
                        const std::function<bool(std::string_view target)>& target = nullptr,
                        std::optional<std::filesystem::file_time_type> older_than = std::nullopt);

// Temp files that are still open are removed by a signal handler before the process dies (see core/signals).
void register_temp_file(const std::filesystem::path& p);
void unregister_temp_file(const std::filesystem::path& p);
void remove_registered_temp_files() noexcept;  // async-signal-safe

}  // namespace facecat::util
