#include "catalog/catalog.hpp"

#include "core/exit_codes.hpp"
#include <fstream>
#include "test_helpers.hpp"

using namespace facecat;

TEST_CASE("a new catalog is created at the current schema version with WAL and foreign keys", "[catalog]") {
  test::TempDir t;
  auto c = catalog::Catalog::open(t.path / "c.db", {catalog::Mode::Write});
  REQUIRE(c);
  CHECK(c->schema_version() == catalog::kSchemaVersion);
  CHECK(c->db().scalar_int("PRAGMA foreign_keys") == 1);
  auto s = c->db().prepare("PRAGMA journal_mode");
  REQUIRE(s.step());
  CHECK(s.text(0) == "wal");
  CHECK(catalog::check(c->db()).empty());
}

TEST_CASE("migrations run forward from an older version, one transaction each", "[catalog]") {
  test::TempDir t;
  auto path = (t.path / "old.db").string();
  {
    auto db = catalog::Db::open(path, false, 1000);
    // A version-0 file: empty, as an old facecat or another program might leave it.
    CHECK(db.scalar_int("PRAGMA user_version") == 0);
  }
  auto c = catalog::Catalog::open(path, {catalog::Mode::Write});
  REQUIRE(c);
  CHECK(c->schema_version() == static_cast<int>(catalog::migrations().size()));
  // Every table the schema promises exists.
  for (const char* table : {"files", "faces", "detections", "pipelines", "models", "people", "person_sources",
                            "friendships", "video_tasks", "segments", "scans"}) {
    auto s = c->db().prepare("SELECT count(*) FROM sqlite_master WHERE type='table' AND name=?1");
    s.bind(1, table);
    REQUIRE(s.step());
    CHECK(s.i64(0) == 1);
  }
}

TEST_CASE("a catalog newer than this binary is refused and left unchanged", "[catalog]") {
  test::TempDir t;
  auto path = (t.path / "new.db").string();
  {
    auto db = catalog::Db::open(path, false, 1000);
    db.exec("CREATE TABLE future(x); PRAGMA user_version = 999");
  }
  auto before = std::filesystem::file_size(path);
  for (auto mode : {catalog::Mode::Read, catalog::Mode::Write}) {
    auto c = catalog::Catalog::open(path, {mode});
    REQUIRE_FALSE(c);
    CHECK(c.error().code == exit_code::catalog);
    CHECK(c.error().message.find("newer") != std::string::npos);
    CHECK(c.error().message.find("upgrade facecat") != std::string::npos);
  }
  auto db = catalog::Db::open(path, true, 1000);
  CHECK(db.scalar_int("PRAGMA user_version") == 999);
  CHECK(std::filesystem::file_size(path) == before);
}

TEST_CASE("a file that is not SQLite is refused with exit code 3", "[catalog]") {
  test::TempDir t;
  auto path = t.path / "junk.db";
  { std::ofstream(path) << "this is not a database, just some text that is long enough to matter\n"; }
  auto c = catalog::Catalog::open(path, {catalog::Mode::Write});
  REQUIRE_FALSE(c);
  CHECK(c.error().code == exit_code::catalog);
}

TEST_CASE("only one writer at a time; readers need no lock", "[catalog]") {
  test::TempDir t;
  auto path = t.path / "w.db";
  auto w1 = catalog::Catalog::open(path, {catalog::Mode::Write});
  REQUIRE(w1);
  auto w2 = catalog::Catalog::open(path, {catalog::Mode::Write});
  REQUIRE_FALSE(w2);
  CHECK(w2.error().message.find("being written by another process") != std::string::npos);
  CHECK(w2.error().message.find("--wait") != std::string::npos);
  auto r = catalog::Catalog::open(path, {catalog::Mode::Read});
  CHECK(r);
  w1 = catalog::Catalog::open(t.path / "other.db", {catalog::Mode::Write});  // releases the first lock
  auto w3 = catalog::Catalog::open(path, {catalog::Mode::Write});
  CHECK(w3);
}

TEST_CASE("check reports broken invariants", "[catalog]") {
  test::TempDir t;
  auto c = catalog::Catalog::open(t.path / "c.db", {catalog::Mode::Write});
  REQUIRE(c);
  auto& db = c->db();
  db.exec("INSERT INTO files(path,size,mtime_ns,inode,hash,kind,first_seen,last_seen,changed_at) "
          "VALUES(x'2f61',1,1,1,'aa','image',1,1,1)");
  db.exec("INSERT INTO files(path,size,mtime_ns,inode,hash,kind,duplicate_of,first_seen,last_seen,changed_at) "
          "VALUES(x'2f62',1,1,2,'bb','image',1,1,1,1)");
  auto problems = catalog::check(db);
  REQUIRE(problems.size() == 1);
  CHECK(problems[0].find("duplicate_of with different content") != std::string::npos);
}
