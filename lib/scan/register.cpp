#include "scan/register.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "util/hash.hpp"

namespace facecat::scan {

Result<FileStat> stat_file(const std::string& path) {
  struct stat sb {};
  if (::stat(path.c_str(), &sb) != 0) return make_error(std::string("cannot read: ") + std::strerror(errno));
  if (!S_ISREG(sb.st_mode)) return make_error("not a regular file");
  FileStat s;
  s.size = sb.st_size;
  s.mtime_ns = static_cast<int64_t>(sb.st_mtim.tv_sec) * 1000000000LL + sb.st_mtim.tv_nsec;
  s.inode = static_cast<int64_t>(sb.st_ino);
  s.dev = static_cast<int64_t>(sb.st_dev);
  return s;
}

const char* FileFacts::kind() const { return media ? media::kind_name(info.type.kind) : "other"; }

FileFacts probe_file(const std::string& path, const FileStat& st, uint64_t max_bytes) {
  FileFacts f;
  f.path = path;
  f.st = st;
  auto name = std::filesystem::path(path).filename().string();
  bool media_name = media::has_media_extension(name);
  if (static_cast<uint64_t>(st.size) > max_bytes) {
    f.read_failed = true;
    f.error = "larger than the " + std::to_string(max_bytes >> 20) + " MiB limit (scan.max_file_mb)";
    return f;
  }
  auto dg = util::digest_file(path);
  if (!dg) {
    f.read_failed = true;
    f.error = "cannot read: " + dg.error().message;
    return f;
  }
  f.hash = dg->hash;
  f.bytes = dg->bytes;
  auto type = media::sniff(dg->head);
  f.info.type = type;
  if (type.kind == media::Kind::Other) {
    if (dg->bytes == 0 && media_name) f.error = "empty file";
    else if (media_name) f.error = "not an image or video: the content is not any known media format";
    return f;
  }
  f.media = true;
  f.info = media::read_media_info(path, type, dg->head, dg->tail, dg->bytes, dg->last_jpeg_eoi);
  if (!f.info.error.empty()) f.error = f.info.error;
  return f;
}

const char* const kInsertFileSql =
    "INSERT INTO files(path,size,mtime_ns,inode,dev,hash,kind,format,width,height,orientation,taken_at,"
    "taken_offset,make,model,lens,gps_lat,gps_lon,gps_alt,exposure_time,f_number,iso,focal_length,status,error,"
    "warning,duplicate_of,first_seen,last_seen,changed_at) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,"
    "?14,?15,?16,?17,?18,?19,?20,?21,?22,?23,'present',?24,?25,?26,?27,?27,?27)";
const char* const kUpdateFileSql =
    "UPDATE files SET path=?1,size=?2,mtime_ns=?3,inode=?4,dev=?5,hash=?6,kind=?7,format=?8,width=?9,height=?10,"
    "orientation=?11,taken_at=?12,taken_offset=?13,make=?14,model=?15,lens=?16,gps_lat=?17,gps_lon=?18,"
    "gps_alt=?19,exposure_time=?20,f_number=?21,iso=?22,focal_length=?23,status='present',error=?24,warning=?25,"
    "duplicate_of=?26,last_seen=?27,changed_at=?27 WHERE id=?28";

void bind_file_columns(catalog::Stmt& s, const FileFacts& f, std::optional<int64_t> dup) {
  const auto& i = f.info;
  const auto& x = i.exif;
  s.bind_blob(1, f.path);
  s.bind(2, f.st.size).bind(3, f.st.mtime_ns).bind(4, f.st.inode).bind(5, f.st.dev);
  s.bind(6, f.hash).bind(7, f.kind());
  if (i.type.format.empty()) s.bind(8, nullptr);
  else s.bind(8, i.type.format);
  s.bind(9, i.width).bind(10, i.height);
  s.bind(11, x.orientation ? std::optional<int64_t>(*x.orientation) : std::nullopt);
  s.bind(12, x.taken_at).bind(13, x.taken_offset).bind(14, x.make).bind(15, x.model).bind(16, x.lens);
  s.bind(17, x.gps_lat).bind(18, x.gps_lon).bind(19, x.gps_alt).bind(20, x.exposure_time).bind(21, x.f_number);
  s.bind(22, x.iso).bind(23, x.focal_length);
  if (f.error.empty()) s.bind(24, nullptr);
  else s.bind(24, f.error);
  if (i.warning.empty()) s.bind(25, nullptr);
  else s.bind(25, i.warning);
  s.bind(26, dup);
}

// "+status": keep SQLite on the hash index (the status index would make every lookup a scan).
const char* const kFindDuplicateSql =
    "SELECT id FROM files WHERE hash=?1 AND +status='present' AND id<>?2 ORDER BY id LIMIT 1";

std::optional<int64_t> find_duplicate(catalog::Stmt& s, const std::string& hash, int64_t self) {
  s.bind(1, hash).bind(2, self);
  std::optional<int64_t> r;
  if (s.step()) r = s.i64(0);
  s.reset();
  return r;
}

std::optional<int64_t> find_duplicate(catalog::Db& db, const std::string& hash, int64_t self) {
  auto s = db.prepare(kFindDuplicateSql);
  return find_duplicate(s, hash, self);
}

Result<Registered> register_file(catalog::Db& db, const std::string& path, const Origin& origin, int64_t now) {
  auto st = stat_file(path);
  if (!st) return make_error(path + ": " + st.error().message);
  Registered r;
  r.facts = probe_file(path, *st);
  if (r.facts.read_failed) return make_error(path + ": " + r.facts.error);
  std::optional<int64_t> existing;
  {
    auto s = db.prepare("SELECT id FROM files WHERE path=?1");
    s.bind_blob(1, path);
    if (s.step()) existing = s.i64(0);
  }
  if (!r.facts.hash.empty() && r.facts.bytes > 0) r.duplicate_of = find_duplicate(db, r.facts.hash, existing.value_or(-1));
  if (existing) {
    auto u = db.prepare(kUpdateFileSql);
    bind_file_columns(u, r.facts, r.duplicate_of);
    u.bind(27, now).bind(28, *existing).run();
    r.id = *existing;
  } else {
    auto ins = db.prepare(kInsertFileSql);
    bind_file_columns(ins, r.facts, r.duplicate_of);
    ins.bind(27, now).run();
    r.id = db.last_insert_id();
    r.inserted = true;
  }
  auto o = db.prepare("UPDATE files SET origin=?1, source_person_id=?2, segment_id=?3 WHERE id=?4");
  o.bind(1, origin.origin).bind(2, origin.source_person_id).bind(3, origin.segment_id).bind(4, r.id).run();
  return r;
}

}  // namespace facecat::scan
