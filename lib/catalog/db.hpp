// Thin RAII over sqlite3: every statement is prepared and every value is bound (no SQL is built from data).
#pragma once
#include <sqlite3.h>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace facecat::catalog {

struct DbError : std::runtime_error {
  DbError(const std::string& m, int rc) : std::runtime_error(m), rc(rc) {}
  int rc;
};

class Stmt {
 public:
  Stmt(sqlite3* db, std::string_view sql);
  Stmt(Stmt&& o) noexcept : db_(o.db_), st_(o.st_) { o.st_ = nullptr; }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  ~Stmt();

  Stmt& bind(int i, std::nullptr_t);
  Stmt& bind(int i, int64_t v);
  Stmt& bind(int i, int v) { return bind(i, static_cast<int64_t>(v)); }
  Stmt& bind(int i, double v);
  Stmt& bind(int i, std::string_view text);
  Stmt& bind(int i, const char* text) { return bind(i, std::string_view(text)); }
  Stmt& bind(int i, const std::string& text) { return bind(i, std::string_view(text)); }
  Stmt& bind_blob(int i, std::string_view bytes);
  // Binds column c of src's current row as it is (type and bytes), e.g. to copy rows between catalogs.
  Stmt& bind_column(int i, const Stmt& src, int c);
  template <class T>
  Stmt& bind(int i, const std::optional<T>& v) {
    if (v) return bind(i, *v);
    return bind(i, nullptr);
  }
  // Bind all parameters in order.
  template <class... A>
  Stmt& bind_all(const A&... a) {
    int i = 0;
    (bind(++i, a), ...);
    return *this;
  }

  bool step();  // true when a row is ready
  void run() { while (step()) {} }
  void reset();

  bool is_null(int c) const { return sqlite3_column_type(st_, c) == SQLITE_NULL; }
  int64_t i64(int c) const { return sqlite3_column_int64(st_, c); }
  double f64(int c) const { return sqlite3_column_double(st_, c); }
  std::string text(int c) const;
  std::string blob(int c) const;
  std::optional<int64_t> opt_i64(int c) const { return is_null(c) ? std::nullopt : std::optional(i64(c)); }
  std::optional<double> opt_f64(int c) const { return is_null(c) ? std::nullopt : std::optional(f64(c)); }
  std::optional<std::string> opt_text(int c) const { return is_null(c) ? std::nullopt : std::optional(text(c)); }

 private:
  sqlite3* db_;
  sqlite3_stmt* st_ = nullptr;
};

class Db {
 public:
  Db() = default;
  static Db open(const std::string& path, bool read_only, int busy_timeout_ms);
  // Read-only as an immutable file (URI immutable=1): for a WAL catalog whose -wal and -shm files do not exist and
  // cannot be created by this user; SQLite then reads the main file alone.
  static Db open_immutable(const std::string& path, int busy_timeout_ms);
  Db(Db&& o) noexcept : db_(o.db_) { o.db_ = nullptr; }
  Db& operator=(Db&& o) noexcept;
  Db(const Db&) = delete;
  ~Db();

  sqlite3* raw() const { return db_; }
  void exec(std::string_view sql);
  Stmt prepare(std::string_view sql) const { return Stmt(db_, sql); }
  int64_t last_insert_id() const { return sqlite3_last_insert_rowid(db_); }
  int changes() const { return sqlite3_changes(db_); }
  // Single-value query helpers.
  std::optional<int64_t> scalar_int(std::string_view sql) const;

 private:
  sqlite3* db_ = nullptr;
};

// BEGIN IMMEDIATE … COMMIT; rolls back unless commit() was called.
class Transaction {
 public:
  explicit Transaction(Db& db);
  ~Transaction();
  void commit();

 private:
  Db& db_;
  bool done_ = false;
};

}  // namespace facecat::catalog
