// The catalog: one SQLite file, WAL mode, versioned with PRAGMA user_version and forward migrations.
// Exactly one process writes at a time: a writer holds an advisory lock (flock) on "<catalog>.lock" for its
// whole run; readers need no lock (WAL). A catalog newer than this binary is refused, never "upgraded back".
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include "catalog/db.hpp"
#include "util/result.hpp"

namespace facecat::catalog {

inline constexpr int kSchemaVersion = 4;  // what this binary writes
inline constexpr int kOldestReadable = 1;

enum class Mode { Read, Write };

struct OpenOptions {
  Mode mode = Mode::Read;
  bool wait_for_lock = false;  // Write: wait for another writer instead of failing at once
  int busy_timeout_ms = 10000;
  bool create = true;          // Write: create a new catalog if none exists
};

class Catalog {
 public:
  // Errors carry exit_code::catalog.
  static Result<Catalog> open(const std::filesystem::path& path, const OpenOptions& opts);
  Catalog(Catalog&&) noexcept;
  Catalog& operator=(Catalog&&) noexcept;
  Catalog(const Catalog&) = delete;
  ~Catalog();

  Db& db() { return db_; }
  const std::filesystem::path& path() const { return path_; }
  int schema_version() const;
  bool writable() const { return lock_fd_ >= 0; }

  // Runs every migration from the file's version up to kSchemaVersion, each in its own transaction.
  static Result<void> migrate(Db& db, const std::string& name);

 private:
  Catalog() = default;
  Db db_;
  std::filesystem::path path_;
  int lock_fd_ = -1;
};

// The SQL of migration n (1-based), applied to a catalog at version n-1.
const std::vector<std::string>& migrations();

// PRAGMA integrity_check plus facecat's own invariants; one line per problem, empty when clean.
std::vector<std::string> check(Db& db);

}  // namespace facecat::catalog
