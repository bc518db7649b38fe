// Write a file through a temp file in the same folder and rename it into place on commit() (ccache's AtomicFile).
// The destructor does not commit: a file that was not committed never becomes visible, half-written or not.
#pragma once
#include <cstdio>
#include <filesystem>
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
  AtomicFile(std::filesystem::path target, std::filesystem::path tmp, int fd);
  std::filesystem::path target_, tmp_;
  int fd_ = -1;
  bool committed_ = false;
};

// Convenience: write the whole content atomically.
Result<void> write_file_atomic(const std::filesystem::path& target, std::string_view data, int mode = 0644);
Result<std::string> read_file(const std::filesystem::path& p, size_t max_bytes = 1u << 30);

// AtomicFile's temp names: ".<target name>.tmp.<16 hex digits>".
bool is_atomic_temp_name(std::string_view file_name);
// Removes the AtomicFile temp files directly in `dir` (left by a process that was killed while writing): call it
// only for a folder this process is about to rewrite. Returns how many were removed.
int remove_atomic_temps(const std::filesystem::path& dir);

// Temp files that are still open are removed by a signal handler before the process dies (see core/signals).
void register_temp_file(const std::filesystem::path& p);
void unregister_temp_file(const std::filesystem::path& p);
void remove_registered_temp_files() noexcept;  // async-signal-safe

}  // namespace facecat::util
