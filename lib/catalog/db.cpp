#include "catalog/db.hpp"

#include <cctype>

namespace facecat::catalog {

static void check(sqlite3* db, int rc, const char* what) {
  if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW)
    throw DbError(std::string(what) + ": " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc)), rc);
}

Stmt::Stmt(sqlite3* db, std::string_view sql) : db_(db) {
  check(db, sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &st_, nullptr), "prepare");
}
Stmt::~Stmt() { sqlite3_finalize(st_); }

Stmt& Stmt::bind(int i, std::nullptr_t) {
  check(db_, sqlite3_bind_null(st_, i), "bind");
  return *this;
}
Stmt& Stmt::bind(int i, int64_t v) {
  check(db_, sqlite3_bind_int64(st_, i, v), "bind");
  return *this;
}
Stmt& Stmt::bind(int i, double v) {
  check(db_, sqlite3_bind_double(st_, i, v), "bind");
  return *this;
}
Stmt& Stmt::bind(int i, std::string_view t) {
  check(db_, sqlite3_bind_text(st_, i, t.data(), static_cast<int>(t.size()), SQLITE_TRANSIENT), "bind");
  return *this;
}
Stmt& Stmt::bind_blob(int i, std::string_view b) {
  check(db_, sqlite3_bind_blob(st_, i, b.data(), static_cast<int>(b.size()), SQLITE_TRANSIENT), "bind");
  return *this;
}

Stmt& Stmt::bind_column(int i, const Stmt& src, int c) {
  check(db_, sqlite3_bind_value(st_, i, sqlite3_column_value(src.st_, c)), "bind");
  return *this;
}

bool Stmt::step() {
  int rc = sqlite3_step(st_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  throw DbError(std::string("step: ") + sqlite3_errmsg(db_), rc);
}

void Stmt::reset() {
  sqlite3_reset(st_);
  sqlite3_clear_bindings(st_);
}

std::string Stmt::text(int c) const {
  auto p = sqlite3_column_text(st_, c);
  return p ? std::string(reinterpret_cast<const char*>(p), sqlite3_column_bytes(st_, c)) : std::string();
}
std::string Stmt::blob(int c) const {
  auto p = sqlite3_column_blob(st_, c);
  return p ? std::string(static_cast<const char*>(p), sqlite3_column_bytes(st_, c)) : std::string();
}

Db Db::open(const std::string& path, bool read_only, int busy_timeout_ms) {
  Db d;
  int flags = (read_only ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)) |
              SQLITE_OPEN_NOMUTEX;
  int rc = sqlite3_open_v2(path.c_str(), &d.db_, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = d.db_ ? sqlite3_errmsg(d.db_) : sqlite3_errstr(rc);
    throw DbError("cannot open " + path + ": " + msg, rc);
  }
  sqlite3_extended_result_codes(d.db_, 1);
  sqlite3_busy_timeout(d.db_, busy_timeout_ms);
  return d;
}

Db Db::open_immutable(const std::string& path, int busy_timeout_ms) {
  // file: URI with the path percent-encoded (every byte but unreserved characters and '/').
  std::string uri = "file:";
  static const char* hex = "0123456789ABCDEF";
  for (unsigned char c : path) {
    if (std::isalnum(c) || c == '/' || c == '-' || c == '_' || c == '.' || c == '~') {
      uri += static_cast<char>(c);
    } else {
      uri += '%';
      uri += hex[c >> 4];
      uri += hex[c & 15];
    }
  }
  uri += "?mode=ro&immutable=1";
  Db d;
  int rc = sqlite3_open_v2(uri.c_str(), &d.db_, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = d.db_ ? sqlite3_errmsg(d.db_) : sqlite3_errstr(rc);
    throw DbError("cannot open " + path + ": " + msg, rc);
  }
  sqlite3_extended_result_codes(d.db_, 1);
  sqlite3_busy_timeout(d.db_, busy_timeout_ms);
  return d;
}

Db& Db::operator=(Db&& o) noexcept {
  if (this != &o) {
    if (db_) sqlite3_close_v2(db_);
    db_ = o.db_;
    o.db_ = nullptr;
  }
  return *this;
}

Db::~Db() {
  if (db_) sqlite3_close_v2(db_);
}

void Db::exec(std::string_view sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db_, std::string(sql).c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string m = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    throw DbError(m, rc);
  }
}

std::optional<int64_t> Db::scalar_int(std::string_view sql) const {
  Stmt s(db_, sql);
  if (s.step() && !s.is_null(0)) return s.i64(0);
  return std::nullopt;
}

Transaction::Transaction(Db& db) : db_(db) { db_.exec("BEGIN IMMEDIATE"); }
Transaction::~Transaction() {
  if (!done_) {
    try {
      db_.exec("ROLLBACK");
    } catch (...) {
    }
  }
}
void Transaction::commit() {
  db_.exec("COMMIT");
  done_ = true;
}

}  // namespace facecat::catalog
