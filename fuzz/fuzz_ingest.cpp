// facecat-catalog ingest: facecat-detect's face JSONL into a catalog (an in-memory SQLite with the real schema).
// Wrong types, missing fields, huge numbers, invalid UTF-8 and records out of order must be reported per line and
// skipped, never throw or crash, and must leave a catalog that passes facecat-catalog check.
#include <spdlog/spdlog.h>

#include <sstream>

#include "catalog/catalog.hpp"
#include "faces_store/ingest.hpp"
#include "fuzz_common.hpp"

using namespace facecat;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);  // ingest logs every bad line; the fuzzer needs no log
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static catalog::Db db = [] {
    auto d = catalog::Db::open(":memory:", false, 1000);
    d.exec("PRAGMA foreign_keys = ON");
    if (!catalog::Catalog::migrate(d, "fuzz")) __builtin_trap();
    // A file the records can name (hash 32 hex digits).
    d.exec("INSERT INTO files(path,size,mtime_ns,inode,dev,hash,kind,format,width,height,status,first_seen,last_seen,"
           "changed_at) VALUES(x'2f612e6a7067',1,1,1,1,'0123456789abcdef0123456789abcdef','image','jpeg',100,80,"
           "'present',1,1,1)");
    return d;
  }();
  std::istringstream in(std::string(fuzz::as_view(data, size)));
  (void)faces_store::ingest_stream(db, in, "fuzz.jsonl", [](const nlohmann::json&) {});
  if (!catalog::check(db).empty()) __builtin_trap();  // ingest left the catalog inconsistent
  // Back to the initial state: every table but files emptied (ingest's own transactions are committed).
  static const std::vector<std::string> tables = [] {
    std::vector<std::string> t;
    auto s = db.prepare("SELECT name FROM sqlite_master WHERE type='table' AND name NOT IN ('files') "
                        "AND name NOT LIKE 'sqlite_%'");
    while (s.step()) t.push_back(s.text(0));
    return t;
  }();
  db.exec("PRAGMA foreign_keys = OFF");
  for (const auto& t : tables) db.exec("DELETE FROM \"" + t + "\"");
  db.exec("PRAGMA foreign_keys = ON");
  return 0;
}
