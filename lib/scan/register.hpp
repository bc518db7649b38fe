// One way to learn about a file and record it in the catalog, shared by facecat-scan, facecat-vk (downloaded
// profile photos) and facecat-scenes (representative frames).
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "catalog/db.hpp"
#include "media/metadata.hpp"
#include "util/result.hpp"

namespace facecat::scan {

struct FileStat {
  int64_t size = 0, mtime_ns = 0, inode = 0, dev = 0;
};
// Errors: "cannot read: <reason>" or "not a regular file".
Result<FileStat> stat_file(const std::string& path);

// What reading a file once tells: hash, kind and metadata. Never throws.
struct FileFacts {
  std::string path;  // raw bytes, absolute
  FileStat st;
  bool read_failed = false;  // could not read at all (error says why): not registered
  std::string hash;          // XXH3-128 hex
  uint64_t bytes = 0;
  media::MediaInfo info;
  bool media = false;        // image or video content
  std::string error;         // content error: the row records it
  const char* kind() const;  // image, video or other
};
FileFacts probe_file(const std::string& path, const FileStat& st, uint64_t max_bytes = 4ull << 30);

// INSERT and UPDATE of a files row share one column list. bind_file_columns binds ?1..?26 of both statements.
extern const char* const kInsertFileSql;  // ?27 = now
extern const char* const kUpdateFileSql;  // ?27 = now, ?28 = id
void bind_file_columns(catalog::Stmt& s, const FileFacts& f, std::optional<int64_t> duplicate_of);

// The first present row with the same content, other than `self` (?1 = hash, ?2 = self).
extern const char* const kFindDuplicateSql;
std::optional<int64_t> find_duplicate(catalog::Stmt& prepared, const std::string& hash, int64_t self = -1);
std::optional<int64_t> find_duplicate(catalog::Db& db, const std::string& hash, int64_t self = -1);

struct Origin {
  std::string origin = "scan";                // scan, vk, scenes, cli
  std::optional<int64_t> source_person_id;    // e.g. a VK photo's owner
  std::optional<int64_t> segment_id;          // a video frame's scene
};
struct Registered {
  int64_t id = 0;
  bool inserted = false;
  std::optional<int64_t> duplicate_of;
  FileFacts facts;
};
// Probe a file and insert or update its row by path (idempotent). Caller holds the transaction.
Result<Registered> register_file(catalog::Db& db, const std::string& path, const Origin& origin, int64_t now);

}  // namespace facecat::scan
