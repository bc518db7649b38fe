#include "catalog/catalog.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "core/exit_codes.hpp"
#include "util/text.hpp"

namespace facecat::catalog {

Catalog::Catalog(Catalog&& o) noexcept : db_(std::move(o.db_)), path_(std::move(o.path_)), lock_fd_(o.lock_fd_) {
  o.lock_fd_ = -1;
}
Catalog& Catalog::operator=(Catalog&& o) noexcept {
  if (this != &o) {
    db_ = std::move(o.db_);
    path_ = std::move(o.path_);
    if (lock_fd_ >= 0) ::close(lock_fd_);
    lock_fd_ = o.lock_fd_;
    o.lock_fd_ = -1;
  }
  return *this;
}
Catalog::~Catalog() {
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the flock
}

int Catalog::schema_version() const { return static_cast<int>(db_.scalar_int("PRAGMA user_version").value_or(0)); }

static Error cat_error(const std::string& m) { return make_error(m, exit_code::catalog); }

Result<void> Catalog::migrate(Db& db, const std::string& name) {
  int v = static_cast<int>(db.scalar_int("PRAGMA user_version").value_or(0));
  const auto& m = migrations();
  if (v > static_cast<int>(m.size()))
    return cat_error(name + " has catalog schema version " + std::to_string(v) + ", newer than this facecat (" +
                     std::to_string(m.size()) + "); upgrade facecat to use it — it was not changed");
  for (int next = v + 1; next <= static_cast<int>(m.size()); ++next) {
    try {
      Transaction t(db);
      db.exec(m[next - 1]);
      db.exec("PRAGMA user_version = " + std::to_string(next));
      t.commit();
    } catch (const DbError& e) {
      return cat_error(name + ": migration to schema version " + std::to_string(next) + " failed: " + e.what());
    }
  }
  return {};
}

Result<Catalog> Catalog::open(const std::filesystem::path& path, const OpenOptions& opts) {
  Catalog c;
  c.path_ = path;
  std::error_code ec;
  bool exists = std::filesystem::exists(path, ec);
  if (exists && std::filesystem::is_directory(path, ec))
    return cat_error("catalog " + path.string() + " is a folder, not a catalog file (pass the catalog's .db file, "
                     "e.g. " + (path / "catalog.db").string() + ")");
  if (exists) {
    // Not an SQLite file (a photo, a text file): refused before anything is created beside it (the lock file).
    std::FILE* f = std::fopen(path.c_str(), "rb");
    char head[16] = {0};
    const size_t got = f ? std::fread(head, 1, sizeof head, f) : 0;
    if (f) std::fclose(f);
    if (got > 0 && (got < sizeof head || std::memcmp(head, "SQLite format 3\0", 16) != 0))
      return cat_error("catalog " + path.string() + " is not a facecat catalog (not an SQLite file); it was not "
                       "changed");
  }
  if (opts.mode == Mode::Read && !exists)
    return cat_error("catalog " + path.string() + " does not exist (run facecat-scan first, or pass --catalog)");
  if (opts.mode == Mode::Write) {
    if (!exists && !opts.create) return cat_error("catalog " + path.string() + " does not exist");
    if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path(), ec);
    auto lock_path = path.string() + ".lock";
    int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return cat_error("cannot open lock file " + lock_path + ": " + std::strerror(errno));
    int rc;
    while ((rc = ::flock(fd, LOCK_EX | (opts.wait_for_lock ? 0 : LOCK_NB))) != 0 && errno == EINTR) {
    }
    if (rc != 0) {
      int e = errno;
      std::string holder;
      char buf[64] = {0};
      if (::pread(fd, buf, sizeof buf - 1, 0) > 0) holder = util::trim(buf);
      ::close(fd);
      if (e == EWOULDBLOCK)
        return cat_error("catalog " + path.string() + " is being written by another process" +
                         (holder.empty() ? "" : " (" + holder + ")") + "; retry later or pass --wait");
      return cat_error("cannot lock " + lock_path + ": " + std::strerror(e));
    }
    // Record who holds the lock, for the message above.
    char host[256] = {0};
    ::gethostname(host, sizeof host - 1);
    std::string who = "pid " + std::to_string(::getpid()) + " on " + host + "\n";
    if (::ftruncate(fd, 0) == 0) (void)!::pwrite(fd, who.data(), who.size(), 0);
    c.lock_fd_ = fd;
  }
  try {
    c.db_ = Db::open(path.string(), opts.mode == Mode::Read, opts.busy_timeout_ms);
    if (opts.mode == Mode::Write) {
      // The -wal and -shm files stay after the writer closes (SQLITE_FCNTL_PERSIST_WAL), so that a user who may
      // read the catalog but not write its folder can read it: SQLite then reads the WAL without writing the -shm.
      int persist = 1;
      sqlite3_file_control(c.db_.raw(), "main", SQLITE_FCNTL_PERSIST_WAL, &persist);
      c.db_.exec("PRAGMA journal_mode = WAL");
      c.db_.exec("PRAGMA synchronous = NORMAL");
    } else {
      try {
        (void)c.db_.scalar_int("PRAGMA user_version");
      } catch (const DbError& e) {
        // A WAL catalog without its -wal/-shm files (last closed by an older facecat), in a folder this user cannot
        // write: SQLite cannot set up WAL reading ("attempt to write a readonly database"). No -wal file means no
        // writer has committed anything beyond the main file, so read that file alone.
        const int prim = e.rc & 0xff;
        std::error_code ec2;
        if ((prim != SQLITE_READONLY && prim != SQLITE_CANTOPEN) ||
            std::filesystem::exists(path.string() + "-wal", ec2))
          throw;
        c.db_ = Db::open_immutable(path.string(), opts.busy_timeout_ms);
      }
    }
    c.db_.exec("PRAGMA foreign_keys = ON");
    // A file that is not SQLite fails here with "file is not a database".
    int v = c.schema_version();
    if (v > kSchemaVersion)
      return cat_error("catalog " + path.string() + " has schema version " + std::to_string(v) +
                       ", newer than this facecat supports (" + std::to_string(kSchemaVersion) +
                       "); upgrade facecat — the catalog was not changed");
    if (opts.mode == Mode::Write) {
      FACECAT_TRY(migrate(c.db_, path.string()));
    } else if (v < kSchemaVersion) {
      return cat_error("catalog " + path.string() + " has schema version " + std::to_string(v) +
                       "; run any writing tool (e.g. facecat-catalog migrate) to upgrade it to " +
                       std::to_string(kSchemaVersion));
    }
  } catch (const DbError& e) {
    return cat_error("catalog " + path.string() + ": " + e.what());
  }
  return c;
}

std::vector<std::string> check(Db& db) {
  std::vector<std::string> problems;
  {
    auto s = db.prepare("PRAGMA integrity_check");
    while (s.step()) {
      auto r = s.text(0);
      if (r != "ok") problems.push_back("integrity: " + r);
    }
  }
  {
    auto s = db.prepare("PRAGMA foreign_key_check");
    while (s.step()) problems.push_back("foreign key: table " + s.text(0) + " row " + s.text(1) + " -> " + s.text(2));
  }
  struct Invariant {
    const char* what;
    const char* sql;  // returns one row per violation, column 0 describes it
  };
  static const Invariant inv[] = {
      {"path listed twice", "SELECT hex(path) FROM files GROUP BY path HAVING count(*) > 1"},
      {"present file without hash", "SELECT id FROM files WHERE status='present' AND kind<>'other' AND hash IS NULL"},
      {"duplicate_of points to itself", "SELECT id FROM files WHERE duplicate_of = id"},
      {"duplicate_of with different content",
       "SELECT f.id FROM files f JOIN files g ON f.duplicate_of = g.id WHERE f.hash IS NOT g.hash"},
      {"face index twice for one detection",
       "SELECT file_hash FROM faces GROUP BY file_hash, pipeline_version, face_index HAVING count(*) > 1"},
      {"detection face count differs from its faces",
       "SELECT d.file_hash FROM detections d WHERE d.error IS NULL AND d.n_faces <> "
       "(SELECT count(*) FROM faces f WHERE f.file_hash=d.file_hash AND f.pipeline_version=d.pipeline_version)"},
      {"descriptor of wrong size", "SELECT id FROM faces WHERE descriptor IS NOT NULL AND length(descriptor) <> 512"},
  };
  for (const auto& i : inv) {
    auto s = db.prepare(i.sql);
    int n = 0;
    std::string first;
    while (s.step()) {
      if (n++ == 0) first = s.text(0);
    }
    if (n) problems.push_back(std::string(i.what) + ": " + std::to_string(n) + " (first: " + first + ")");
  }
  return problems;
}

}  // namespace facecat::catalog
