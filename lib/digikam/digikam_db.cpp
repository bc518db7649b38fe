#include "digikam/digikam_db.hpp"

#include <dirent.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <optional>
#include <set>

#include "catalog/db.hpp"
#include "core/exit_codes.hpp"
#include "core/output.hpp"
#include "core/signals.hpp"
#include "digikam/import.hpp"
#include "util/atomic_file.hpp"
#include "util/text.hpp"

namespace facecat::digikam {
namespace {

using catalog::Db;
using catalog::DbError;

Error db_error(const std::string& m) { return make_error(m, exit_code::catalog); }

std::string strip_trailing_slashes(std::string s) {
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// digiKam stores root paths URL-encoded ("volumeid:?path=%2Fhome%2Fu%2FPictures"); plain ones decode to themselves.
std::string percent_decode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      int a = hex_digit(s[i + 1]), b = hex_digit(s[i + 2]);
      if (a >= 0 && b >= 0) {
        out.push_back(static_cast<char>(a * 16 + b));
        i += 2;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

// Mount point of a filesystem by its uuid, through /dev/disk/by-uuid and /proc/self/mounts.
std::optional<std::string> mount_point_for_uuid(const std::string& uuid) {
  std::error_code ec;
  for (const auto& u : {uuid, util::to_lower(uuid), [&] {
                          std::string s = uuid;
                          std::transform(s.begin(), s.end(), s.begin(), ::toupper);
                          return s;
                        }()}) {
    auto link = std::filesystem::path("/dev/disk/by-uuid") / u;
    auto dev = std::filesystem::canonical(link, ec);
    if (ec) continue;
    std::ifstream mounts("/proc/self/mounts");
    std::string line;
    while (std::getline(mounts, line)) {
      auto f = util::split(line, ' ');
      if (f.size() < 2) continue;
      auto src = std::filesystem::canonical(f[0], ec);
      if (ec || src != dev) continue;
      // /proc/mounts escapes space, tab, newline and backslash as \ooo.
      std::string mp;
      for (size_t i = 0; i < f[1].size(); ++i) {
        if (f[1][i] == '\\' && i + 3 < f[1].size()) {
          mp.push_back(static_cast<char>((f[1][i + 1] - '0') * 64 + (f[1][i + 2] - '0') * 8 + (f[1][i + 3] - '0')));
          i += 3;
        } else {
          mp.push_back(f[1][i]);
        }
      }
      return mp;
    }
  }
  return std::nullopt;
}

}  // namespace

std::vector<AlbumRoot> album_roots(Db& db, const DbOptions& opts) {
  std::vector<AlbumRoot> roots;
  auto s = db.prepare("SELECT id, identifier, specificPath FROM AlbumRoots ORDER BY id");
  while (s.step()) {
    int64_t id = s.i64(0);
    std::string ident = s.text(1), specific = s.text(2);
    auto q = ident.find('?');
    std::map<std::string, std::string> query;
    if (q != std::string::npos)
      for (const auto& kv : util::split(std::string_view(ident).substr(q + 1), '&')) {
        auto eq = kv.find('=');
        if (eq != std::string::npos) query[kv.substr(0, eq)] = percent_decode(kv.substr(eq + 1));
      }
    std::optional<std::string> base;
    if (util::starts_with(ident, "volumeid:") && query.count("path")) {
      base = query["path"];
    } else if (util::starts_with(ident, "volumeid:") && query.count("uuid")) {
      const auto& uuid = query["uuid"];
      for (const auto& [k, v] : opts.volumes)
        if (util::to_lower(k) == util::to_lower(uuid)) base = v;
      if (!base) base = mount_point_for_uuid(uuid);
      if (!base) {
        spdlog::warn("digiKam album root {} is on volume {}, which is not mounted here; pass --volume {}=MOUNTPOINT "
                     "to use it",
                     id, uuid, uuid);
        continue;
      }
    } else if (util::starts_with(ident, "networkshareid:") && query.count("mountpath")) {
      base = query["mountpath"];
    } else {
      spdlog::warn("digiKam album root {} has an identifier facecat does not understand: {}", id, ident);
      continue;
    }
    std::string p = strip_trailing_slashes(*base);
    if (!specific.empty() && specific != "/") {
      if (specific.front() != '/') specific.insert(specific.begin(), '/');
      p = (p == "/" ? std::string() : p) + strip_trailing_slashes(specific);
    }
    roots.push_back({id, p});
  }
  return roots;
}

namespace {

using Root = AlbumRoot;

struct Where {
  const Root* root;
  std::string album;  // digiKam's Albums.relativePath: "/" or "/2020/trip"
  std::string name;
};

std::optional<Where> locate(const std::string& path, const std::vector<Root>& roots) {
  const Root* best = nullptr;
  for (const auto& r : roots) {
    bool inside = r.path == "/" ? util::starts_with(path, "/")
                                : util::starts_with(path, r.path) && path.size() > r.path.size() &&
                                      path[r.path.size()] == '/';
    if (inside && (!best || r.path.size() > best->path.size())) best = &r;
  }
  if (!best) return std::nullopt;
  std::string rel = best->path == "/" ? path : path.substr(best->path.size());
  auto slash = rel.rfind('/');
  return Where{best, slash == 0 ? std::string("/") : rel.substr(0, slash), rel.substr(slash + 1)};
}

std::string backup_name(const std::filesystem::path& db) {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
  std::string base = db.string() + ".facecat-backup-" + stamp;
  std::string p = base;
  for (int i = 2; std::filesystem::exists(p); ++i) p = base + "-" + std::to_string(i);
  return p;
}

Result<std::string> make_backup(Db& db, const std::filesystem::path& db_path) {
  std::string target = backup_name(db_path);
  struct stat st {};
  int mode = ::stat(db_path.c_str(), &st) == 0 ? static_cast<int>(st.st_mode & 0777) : 0600;
  auto f = util::AtomicFile::create(target, mode);
  if (!f) return f.error();
  sqlite3* dest = nullptr;
  int rc = sqlite3_open_v2(f->temp_path().c_str(), &dest, SQLITE_OPEN_READWRITE, nullptr);
  if (rc == SQLITE_OK) {
    sqlite3_backup* b = sqlite3_backup_init(dest, "main", db.raw(), "main");
    if (b) {
      rc = sqlite3_backup_step(b, -1);
      sqlite3_backup_finish(b);
      if (rc == SQLITE_DONE) rc = SQLITE_OK;
    } else {
      rc = sqlite3_errcode(dest);
    }
  }
  std::string err = rc == SQLITE_OK ? "" : (dest ? sqlite3_errmsg(dest) : sqlite3_errstr(rc));
  sqlite3_close_v2(dest);
  if (rc != SQLITE_OK) return make_error("cannot back up " + db_path.string() + " to " + target + ": " + err);
  FACECAT_TRY(f->commit());
  return target;
}

// The writer: every change goes through here, so the dry pass and the real pass decide alike.
class Writer {
 public:
  Writer(Db& db, bool dry) : db_(db), dry_(dry) {}

  int tags_created = 0;
  int changes = 0;

  // -1: the People tag would be created (dry pass).
  int64_t people_parent() {
    if (people_) return *people_;
    // digiKam's heuristic: the parent of the most top-level person tag (largest id among equals).
    auto s = db_.prepare(
        "SELECT t.pid FROM Tags t WHERE t.id IN (SELECT tagid FROM TagProperties WHERE property = 'person') "
        "ORDER BY (SELECT count(*) FROM TagsTree tt WHERE tt.id = t.id), t.id DESC LIMIT 1");
    if (s.step() && !s.is_null(0)) return *(people_ = s.i64(0));
    auto p = db_.prepare("SELECT id FROM Tags WHERE pid = 0 AND name = 'People'");
    if (p.step()) return *(people_ = p.i64(0));
    ++tags_created;
    ++changes;
    if (dry_) return *(people_ = -1);
    db_.prepare("INSERT INTO Tags (pid, name) VALUES (0, 'People')").run();
    return *(people_ = db_.last_insert_id());
  }

  // -1: the tag would be created (dry pass).
  int64_t person_tag(const std::string& raw_name) {
    std::string name = raw_name;
    std::replace(name.begin(), name.end(), '/', '\\');
    if (auto it = tags_.find(name); it != tags_.end()) return it->second;
    {
      auto s = db_.prepare("SELECT tagid FROM TagProperties WHERE property = 'person' AND value = ?1 "
                           "AND tagid IN (SELECT id FROM Tags) ORDER BY tagid LIMIT 1");
      s.bind(1, name);
      if (s.step()) return tags_[name] = s.i64(0);
    }
    int64_t parent = people_parent();
    if (parent >= 0) {
      auto s = db_.prepare("SELECT id FROM Tags WHERE pid = ?1 AND name = ?2");
      s.bind(1, parent).bind(2, name);
      if (s.step()) {
        int64_t id = s.i64(0);
        set_property(id, "person", name);
        set_property(id, "faceEngineId", name);
        return tags_[name] = id;
      }
    }
    ++tags_created;
    ++changes;
    if (dry_) return tags_[name] = -1;
    auto ins = db_.prepare("INSERT INTO Tags (pid, name) VALUES (?1, ?2)");  // the trigger fills TagsTree
    ins.bind(1, parent).bind(2, name).run();
    int64_t id = db_.last_insert_id();
    set_property(id, "person", name);
    set_property(id, "faceEngineId", name);
    return tags_[name] = id;
  }

  // The person tag of a name, found as person_tag() finds it but never created (-1: there is none).
  int64_t existing_person_tag(const std::string& raw_name) {
    std::string name = raw_name;
    std::replace(name.begin(), name.end(), '/', '\\');
    auto s = db_.prepare("SELECT tagid FROM TagProperties WHERE property = 'person' AND value = ?1 "
                         "AND tagid IN (SELECT id FROM Tags) ORDER BY tagid LIMIT 1");
    s.bind(1, name);
    if (s.step()) return s.i64(0);
    return -1;
  }

  // Takes out the region facecat writes for this face (the person's tag, exactly this rectangle); the image loses
  // the tag when no region of it is left. False when there was no such region.
  bool remove_face(int64_t image, int64_t tag, const std::string& rect) {
    if (tag < 0) return false;
    auto count = [&](bool same_rect) {
      auto s = db_.prepare(std::string("SELECT count(*) FROM ImageTagProperties WHERE imageid = ?1 AND tagid = ?2 AND "
                                       "property = 'tagRegion'") + (same_rect ? " AND value = ?3" : ""));
      s.bind(1, image).bind(2, tag);
      if (same_rect) s.bind(3, rect);
      return s.step() ? s.i64(0) : 0;
    };
    const int64_t mine = count(true);
    if (mine == 0) return false;
    const int64_t left = count(false) - mine;
    changes += 1 + (left == 0);
    if (!dry_) {
      db_.prepare("DELETE FROM ImageTagProperties WHERE imageid = ?1 AND tagid = ?2 AND property = 'tagRegion' AND "
                  "value = ?3")
          .bind_all(image, tag, rect)
          .run();
      if (left == 0) db_.prepare("DELETE FROM ImageTags WHERE imageid = ?1 AND tagid = ?2").bind_all(image, tag).run();
    }
    return true;
  }

  enum class FaceResult { Added, Present, Conflict };

  // A region of the same person on the same face (the same rectangle, or one that overlaps it with IoU >= 0.5:
  // a face named in digiKam and imported keeps digiKam's own box) is there already; another person's region
  // there is a conflict.
  FaceResult add_face(int64_t image, int64_t tag, const Rect& box) {
    const std::string rect = db_rect_string(box);
    bool ours = false, other = false;
    {
      auto s = db_.prepare("SELECT tagid, value FROM ImageTagProperties WHERE imageid = ?1 AND property = 'tagRegion'");
      s.bind(1, image);
      while (s.step()) {
        auto r = parse_db_rect(s.text(1));
        if (s.text(1) != rect && (!r || iou(*r, box) < 0.5)) continue;
        (tag >= 0 && s.i64(0) == tag ? ours : other) = true;
      }
    }
    if (!ours && other) return FaceResult::Conflict;
    if (tag < 0) {  // a tag that only the real pass creates: everything is new
      ++changes;
      return FaceResult::Added;
    }
    bool tagged = false;
    {
      auto s = db_.prepare("SELECT 1 FROM ImageTags WHERE imageid = ?1 AND tagid = ?2");
      s.bind(1, image).bind(2, tag);
      tagged = s.step();
    }
    if (!tagged) {
      ++changes;
      if (!dry_) db_.prepare("INSERT OR IGNORE INTO ImageTags (imageid, tagid) VALUES (?1, ?2)").bind_all(image, tag).run();
    }
    if (ours) return FaceResult::Present;
    ++changes;
    if (!dry_)
      db_.prepare("INSERT INTO ImageTagProperties (imageid, tagid, property, value) VALUES (?1, ?2, 'tagRegion', ?3)")
          .bind_all(image, tag, rect)
          .run();
    return FaceResult::Added;
  }

 private:
  void set_property(int64_t tag, const char* property, const std::string& value) {
    auto s = db_.prepare("SELECT 1 FROM TagProperties WHERE tagid = ?1 AND property = ?2");
    s.bind(1, tag).bind(2, property);
    if (s.step()) return;
    ++changes;
    if (!dry_)
      db_.prepare("INSERT INTO TagProperties (tagid, property, value) VALUES (?1, ?2, ?3)")
          .bind_all(tag, std::string(property), value)
          .run();
  }

  Db& db_;
  bool dry_;
  std::optional<int64_t> people_;
  std::map<std::string, int64_t> tags_;
};

// Schema versions whose AlbumRoots, Albums, Images, Tags, TagsTree, TagProperties, ImageTags and
// ImageTagProperties facecat reads and writes: 15 (digiKam 7.x, Debian 12's 7.9.0, checked with the real
// program) and 16 (digiKam 8.x). The two differ in nothing facecat touches.
constexpr const char* kKnownSchemas = "15 and 16";
bool known_schema(const std::string& v) { return v == "15" || v == "16"; }

bool has_table(Db& db, const char* name) {
  auto s = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1");
  s.bind(1, name);
  return s.step();
}

}  // namespace

Result<std::pair<std::string, std::string>> parse_root_map(const std::string& spec) {
  auto eq = spec.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size())
    return make_error("--root-map expects OLD=NEW (catalog prefix = prefix digiKam sees), got '" + spec + "'",
                      exit_code::usage);
  std::string a = strip_trailing_slashes(spec.substr(0, eq)), b = strip_trailing_slashes(spec.substr(eq + 1));
  if (a.front() != '/' || b.front() != '/')
    return make_error("--root-map '" + spec + "': both sides must be absolute paths", exit_code::usage);
  return std::pair{a, b};
}

std::string map_root(const std::string& path, const std::vector<std::pair<std::string, std::string>>& root_map) {
  for (const auto& [from, to] : root_map) {
    if (from == "/") return (to == "/" ? std::string() : to) + path;
    if (path == from) return to;
    if (util::starts_with(path, from) && path[from.size()] == '/')
      return (to == "/" ? std::string() : to) + path.substr(from.size());
  }
  return path;
}

namespace {
// dev/ino of a folder, or {0,0}.
std::pair<dev_t, ino_t> dir_id(const std::string& path) {
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) return {0, 0};
  return {st.st_dev, st.st_ino};
}

// Whether process `pid` holds a file open in the folder `dir` (compared by dev/ino, so symlinked paths match).
// A process whose descriptors we may not read (another user's) counts as holding it: refusing is the safe side.
bool holds_file_in(const std::string& pid, std::pair<dev_t, ino_t> dir) {
  const std::string fd_dir = "/proc/" + pid + "/fd";
  DIR* d = ::opendir(fd_dir.c_str());
  if (!d) return errno == EACCES || errno == EPERM;
  bool found = false;
  while (auto* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    char target[4096];
    ssize_t n = ::readlink((fd_dir + "/" + e->d_name).c_str(), target, sizeof target - 1);
    if (n <= 0 || target[0] != '/') continue;
    target[n] = '\0';
    std::string t(target);
    if (util::ends_with(t, " (deleted)")) continue;
    auto slash = t.rfind('/');
    if (dir_id(slash == 0 ? "/" : t.substr(0, slash)) == dir) {
      found = true;
      break;
    }
  }
  ::closedir(d);
  return found;
}
}  // namespace

long find_running_digikam(const std::filesystem::path& db_path) {
  std::error_code ec;
  auto parent = std::filesystem::absolute(db_path, ec).parent_path();
  const auto dir = dir_id(parent.string());
  DIR* d = ::opendir("/proc");
  if (!d) return 0;
  long found = 0;
  while (auto* e = ::readdir(d)) {
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (pid <= 0 || *end) continue;
    std::ifstream comm(std::string("/proc/") + e->d_name + "/comm");
    std::string name;
    if (!std::getline(comm, name) || name != "digikam") continue;
    // A digiKam working on another collection (or the folder cannot be identified) must not block this one;
    // digiKam keeps its databases open for as long as it runs, so an open file in the folder is the test.
    if (dir.second == 0 || holds_file_in(e->d_name, dir)) {
      found = pid;
      break;
    }
  }
  ::closedir(d);
  return found;
}

Result<DbSummary> write_digikam_db(const std::vector<ExportImage>& images, const DbOptions& opts,
                                   const std::function<void(const nlohmann::json&)>& on_event) {
  const std::string name = opts.db_path.string();
  if (opts.check_process)
    if (long pid = find_running_digikam(opts.db_path))
      return db_error("digiKam is running (pid " + std::to_string(pid) + "); close it before writing to " + name +
                      " (or use 'facecat-digikam xmp', which is safe while digiKam runs)");
  std::error_code ec;
  if (!std::filesystem::is_regular_file(opts.db_path, ec))
    return db_error(name + " does not exist or is not a file (digiKam's database is digikam4.db in the folder "
                           "set under Settings → Database)");
  DbSummary sum;
  try {
    Db db = Db::open(name, false, 0);  // no busy wait: a lock held by anyone means "not now"
    try {
      db.exec("BEGIN EXCLUSIVE");
    } catch (const DbError& e) {
      if ((e.rc & 0xff) == SQLITE_BUSY || (e.rc & 0xff) == SQLITE_LOCKED)
        return db_error(name + " is locked by another program (is digiKam running?); close it and try again");
      throw;
    }
    struct Rollback {
      Db& db;
      bool done = false;
      ~Rollback() {
        if (!done) try {
            db.exec("ROLLBACK");
          } catch (...) {
          }
      }
    } guard{db};
    for (const char* t : {"AlbumRoots", "Albums", "Images", "Tags", "TagsTree", "TagProperties", "ImageTags",
                          "ImageTagProperties", "Settings"})
      if (!has_table(db, t)) return db_error(name + " is not a digiKam database (no table " + t + ")");
    {
      auto s = db.prepare("SELECT value FROM Settings WHERE keyword = 'DBVersion'");
      std::string v = s.step() ? s.text(0) : "";
      if (!known_schema(v))
        spdlog::warn("{} has digiKam schema version '{}'; facecat knows versions {} (the tables it reads and "
                     "writes are the same in both)",
                     name, v, kKnownSchemas);
    }
    auto roots = album_roots(db, opts);
    if (roots.empty()) spdlog::warn("{} has no usable album roots: has digiKam scanned a collection yet?", name);

    // Match images first (read-only).
    struct Job {
      const ExportImage* img;
      int64_t image_id;
    };
    std::vector<Job> jobs;
    auto find_image = db.prepare(
        "SELECT i.id FROM Images i JOIN Albums a ON a.id = i.album "
        "WHERE a.albumRoot = ?1 AND a.relativePath = ?2 AND i.name = ?3 AND i.status IN (1, 2)");
    for (const auto& img : images) {
      throw_if_interrupted();
      bool any = std::any_of(img.faces.begin(), img.faces.end(),
                             [](const ExportFace& f) { return f.category == Category::Confirmed && !f.name.empty(); });
      if (!any) continue;
      std::string mapped = map_root(img.path, opts.root_map);
      auto where = locate(mapped, roots);
      std::optional<int64_t> id;
      if (where) {
        find_image.reset();
        find_image.bind(1, where->root->id).bind(2, where->album).bind(3, where->name);
        if (find_image.step()) id = find_image.i64(0);
      }
      if (!id) {
        ++sum.images_missing;
        json e = {{"event", "skipped"}};
        put_path(e, img.path);
        if (mapped != img.path) put_path(e, mapped, "digikam_path");
        e["reason"] = where ? "not in digiKam's database (album '" + where->album + "' of album root " +
                                  std::to_string(where->root->id) + "): let digiKam scan it first"
                            : std::string("outside every digiKam album root (see --root-map)");
        spdlog::warn("{}: {}", util::printable(img.path), e["reason"].get<std::string>());
        on_event(e);
        continue;
      }
      jobs.push_back({&img, *id});
    }

    auto pass = [&](Writer& w, bool report) {
      for (const auto& j : jobs) {
        throw_if_interrupted();
        int added = 0, present = 0, conflicts = 0, removed = 0;
        json names = json::array();
        for (const auto& f : j.img->faces) {
          if (f.category != Category::Confirmed || f.name.empty()) continue;
          if (opts.remove) {
            removed += w.remove_face(j.image_id, w.existing_person_tag(f.name), db_rect_string(f.display));
            names.push_back(f.name);
            continue;
          }
          int64_t tag = w.person_tag(f.name);
          switch (w.add_face(j.image_id, tag, f.display)) {
            case Writer::FaceResult::Added: ++added; break;
            case Writer::FaceResult::Present: ++present; break;
            case Writer::FaceResult::Conflict:
              ++conflicts;
              spdlog::warn("{}: digiKam already has face {} under another person; left as it is",
                           util::printable(j.img->path), db_rect_string(f.display));
              break;
          }
          names.push_back(f.name);
        }
        if (!report) continue;
        sum.faces_added += added;
        sum.faces_present += present;
        sum.faces_conflict += conflicts;
        sum.faces_removed += removed;
        json e = {{"event", "db"}};
        put_path(e, j.img->path);
        e["image_id"] = j.image_id;
        e["names"] = names;
        e["added_face_count"] = added;
        e["present_face_count"] = present;
        e["conflict_count"] = conflicts;
        if (opts.remove) e["removed_face_count"] = removed;
        if (opts.dry_run) e["dry_run"] = true;
        on_event(e);
      }
    };

    sum.images_matched = static_cast<int>(jobs.size());
    Writer dry(db, true);
    pass(dry, opts.dry_run);
    if (opts.dry_run || dry.changes == 0) {
      sum.tags_created = dry.tags_created;
      if (!opts.dry_run) pass(dry, true);  // report "present" counts; nothing to write, no backup needed
      return sum;                          // the guard rolls back (nothing was written)
    }
    // sqlite's online backup cannot read through a connection that holds a write transaction, so: end the
    // dry pass, back up, and take the exclusive lock again. PRAGMA data_version tells whether anyone else
    // committed in between; if so, stop rather than write to a state the backup does not hold.
    db.exec("ROLLBACK");
    guard.done = true;
    int64_t version = db.scalar_int("PRAGMA data_version").value_or(0);
    auto backup = make_backup(db, opts.db_path);
    if (!backup) return db_error(backup.error().message + "; nothing was changed");
    sum.backup = *backup;
    try {
      db.exec("BEGIN EXCLUSIVE");
    } catch (const DbError&) {
      return db_error(name + " was locked by another program right after the backup; nothing was changed");
    }
    guard.done = false;
    if (db.scalar_int("PRAGMA data_version").value_or(0) != version)
      return db_error(name + " was changed by another program during the backup; nothing was changed, try again");
    Writer real(db, false);
    pass(real, true);
    sum.tags_created = real.tags_created;
    throw_if_interrupted();
    db.exec("COMMIT");
    guard.done = true;
  } catch (const DbError& e) {
    return db_error(name + ": " + e.what() + " (nothing was changed)");
  }
  return sum;
}

}  // namespace facecat::digikam
