#include "people/erase.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <ctime>
#include <optional>
#include <set>

#include "core/exit_codes.hpp"
#include "core/owned_dir.hpp"
#include "people/people.hpp"
#include "util/text.hpp"

namespace facecat::people {

namespace fs = std::filesystem;
using json = nlohmann::json;
using clk = std::chrono::steady_clock;

json EraseResult::to_json() const {
  json r = {{"event", "erased"}, {"person_id", person}, {"name", name.empty() ? json(nullptr) : json(name)}};
  json c = json::object();
  // Counted by kind: "faces" → "face_count", "index_files" → "index_file_count" (counts end in _count).
  for (const auto& [k, v] : removed) {
    std::string key = k;
    if (key == "people") key = "person";
    else if (key.size() > 1 && key.back() == 's') key.pop_back();
    key += "_count";
    c[key] = v;
  }
  r["removed"] = c;
  r["seconds_delete"] = std::round(seconds_delete * 1000) / 1000;
  r["seconds_vacuum"] = std::round(seconds_vacuum * 1000) / 1000;
  if (!disk_errors.empty()) r["disk_errors"] = disk_errors;
  return r;
}

namespace {

Error usage(const std::string& m) { return make_error(m, exit_code::usage); }

struct FaceToErase {
  int64_t id;
  std::string hash, version;
  int64_t x, y, w, h;
  std::string crop;
  bool descriptor, landmarks, quality, own;  // own: a face of the person (false: another face in their VK photo)
  int64_t index;
};

// Removes a file that the catalog says facecat wrote. Counts it when it was there.
void unlink_counted(const std::string& p, int64_t& n, std::vector<std::string>& errors) {
  if (p.empty()) return;
  if (::unlink(p.c_str()) == 0) ++n;
  else if (errno != ENOENT) errors.push_back(util::utf8_lossy(p) + ": " + std::strerror(errno));
}

}  // namespace

Result<EraseResult> erase(catalog::Catalog& cat, const std::string& ref_text, const EraseOptions& o) {
  auto& db = cat.db();
  EraseResult res;
  auto& n = res.removed;
  for (const char* k : {"faces", "descriptors", "landmarks", "quality", "crops", "chips", "thumbnails", "index_files",
                        "people", "vk_profiles", "vk_photos", "vk_photo_files", "blocked"})
    n[k] = 0;

  // ---- who ----------------------------------------------------------------------------------------------------
  std::optional<int64_t> person, cluster;
  const std::string t = util::trim(ref_text);
  std::string vk = t.rfind("vk:", 0) == 0 ? t.substr(3) : "";
  if (!vk.empty()) {
    auto s = db.prepare("SELECT person_id FROM person_sources WHERE source = 'vk' AND external_id = ?1");
    s.bind(1, vk);
    if (!s.step() || s.is_null(0)) return usage("no person has the VK id " + vk + " (facecat-people list shows sources)");
    person = s.i64(0);
  } else {
    auto r = resolve(db, t);
    if (!r) return r.error();
    if (r->kind == Ref::Kind::Person) person = r->id;
    else if (r->kind == Ref::Kind::Cluster) {
      if (auto p = person_of_cluster(db, r->id)) person = *p;
      else cluster = r->id;
    } else {
      return usage("erase takes a person (a name, p<id>, c<cluster> or vk:<id>), not a single face; to erase one "
                   "face, split it off first (facecat-people split " + t + ") and erase that person");
    }
  }
  if (person) {
    res.person = *person;
    auto s = db.prepare("SELECT coalesce(name, '') FROM people WHERE id = ?1");
    s.bind(1, *person);
    if (s.step()) res.name = s.text(0);
  }

  // ---- what -----------------------------------------------------------------------------------------------------
  std::vector<FaceToErase> faces;
  std::set<int64_t> face_ids;
  auto collect = [&](catalog::Stmt& s, bool own) {
    while (s.step()) {
      if (!face_ids.insert(s.i64(0)).second) continue;
      faces.push_back({s.i64(0), s.text(1), s.text(2), s.i64(3), s.i64(4), s.i64(5), s.i64(6),
                       s.is_null(7) ? "" : s.blob(7), s.i64(8) != 0, s.i64(9) != 0, s.i64(10) != 0, own,
                       s.i64(11)});
    }
  };
  const char* cols =
      "SELECT id, file_hash, pipeline_version, x, y, w, h, crop_path, descriptor IS NOT NULL, landmarks IS NOT NULL, "
      "quality IS NOT NULL, face_index FROM faces ";
  {
    auto s = db.prepare(std::string(cols) + (person ? "WHERE person_id = ?1 AND coalesce(assignment, '') <> 'rejected'"
                                                    : "WHERE cluster_id = ?1 AND person_id IS NULL"));
    s.bind(1, person ? *person : *cluster);
    collect(s, true);
  }
  std::vector<std::string> vk_ids;
  struct VkFile {
    int64_t id;
    std::string path, hash;
  };
  std::vector<VkFile> vk_files;
  if (o.vk && person) {
    auto s = db.prepare("SELECT external_id FROM person_sources WHERE person_id = ?1 AND source = 'vk'");
    s.bind(1, *person);
    while (s.step()) vk_ids.push_back(s.text(0));
    auto f = db.prepare("SELECT id, path, coalesce(hash, '') FROM files WHERE origin = 'vk' AND source_person_id = ?1");
    f.bind(1, *person);
    while (f.step()) vk_files.push_back({f.i64(0), f.blob(1), f.text(2)});
    // Every face found in their profile photos goes with the photos.
    auto g = db.prepare(std::string(cols) + "WHERE file_hash = ?1");
    for (const auto& v : vk_files) {
      if (v.hash.empty()) continue;
      g.bind(1, v.hash);
      collect(g, false);
      g.reset();
    }
  }
  for (const auto& f : faces) {
    if (f.own) {
      res.file_hashes.insert(f.hash);
      res.face_ids.insert(f.id);
    }
    ++n["faces"];
    n["descriptors"] += f.descriptor;
    n["landmarks"] += f.landmarks;
    n["quality"] += f.quality;
    if (o.block && f.own) ++n["blocked"];
  }
  n["people"] = person ? 1 : 0;
  n["vk_profiles"] = static_cast<int64_t>(vk_ids.size());
  if (o.dry_run) {
    // What would go from disk, without touching it.
    std::error_code ec;
    for (const auto& f : faces) n["crops"] += !f.crop.empty() && fs::exists(f.crop, ec);
    for (const auto& v : vk_files) n["vk_photo_files"] += fs::exists(v.path, ec);
    return res;
  }

  // ---- the catalog: one transaction, with freed cells overwritten ------------------------------------------------
  const auto t0 = clk::now();
  try {
    db.exec("PRAGMA secure_delete = ON");
    catalog::Transaction tx(db);
    auto block = db.prepare("INSERT INTO blocked_faces (file_hash, x, y, w, h, erased_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    auto del = db.prepare("DELETE FROM faces WHERE id = ?1");
    auto count = db.prepare("UPDATE detections SET n_faces = n_faces - 1 WHERE file_hash = ?1 AND pipeline_version = ?2");
    const int64_t now = static_cast<int64_t>(std::time(nullptr));
    for (const auto& f : faces) {
      if (o.block && f.own) {
        block.bind_all(f.hash, f.x, f.y, f.w, f.h, now).run();
        block.reset();
      }
      del.bind(1, f.id).run();
      del.reset();
      count.bind(1, f.hash).bind(2, f.version).run();
      count.reset();
    }
    if (!vk_files.empty()) {
      auto vp = db.prepare("DELETE FROM vk_photos WHERE file_id = ?1");
      auto det = db.prepare("DELETE FROM detections WHERE file_hash = ?1 AND NOT EXISTS "
                            "(SELECT 1 FROM files WHERE hash = ?1 AND id <> ?2)");
      auto file = db.prepare("DELETE FROM files WHERE id = ?1");
      for (const auto& v : vk_files) {
        vp.bind(1, v.id).run();
        n["vk_photos"] += db.changes();
        vp.reset();
        if (!v.hash.empty()) {
          det.bind(1, v.hash).bind(2, v.id).run();
          det.reset();
        }
        file.bind(1, v.id).run();
        file.reset();
      }
    }
    for (const auto& id : vk_ids) {
      for (const char* sql : {"DELETE FROM vk_photos WHERE owner_id = ?1", "DELETE FROM vk_crawl WHERE vk_id = ?1",
                              "DELETE FROM friendships WHERE source = 'vk' AND (a = ?1 OR b = ?1)"}) {
        auto s = db.prepare(sql);
        s.bind(1, id).run();
        if (std::strstr(sql, "vk_photos")) n["vk_photos"] += db.changes();
      }
    }
    if (person) {
      auto s = db.prepare("DELETE FROM person_sources WHERE person_id = ?1");
      s.bind(1, *person).run();
      auto p = db.prepare("DELETE FROM people WHERE id = ?1");
      p.bind(1, *person).run();
    }
    tx.commit();
  } catch (const catalog::DbError& e) {
    return make_error(std::string("erase failed, nothing was changed: ") + e.what(), exit_code::catalog);
  }
  res.seconds_delete = std::chrono::duration<double>(clk::now() - t0).count();

  // ---- files on disk that the catalog says facecat wrote -----------------------------------------------------------
  for (const auto& f : faces) {
    unlink_counted(f.crop, n["crops"], res.disk_errors);
    if (!o.chips_dir.empty()) {  // detect's name for a chip: <chips>/<hash[:2]>/<hash>_<version>_<index>.chip.png
      const fs::path dir = o.chips_dir / (f.hash.size() >= 2 ? f.hash.substr(0, 2) : std::string("xx"));
      const std::string name = f.hash + "_" + f.version + "_" + std::to_string(f.index) + ".chip.png";
      if (f.hash.find('/') == std::string::npos && f.version.find('/') == std::string::npos)
        unlink_counted((dir / name).string(), n["chips"], res.disk_errors);
    }
  }
  if (!o.report_dir.empty()) {
    if (!has_owned_dir_marker(o.report_dir)) {
      res.disk_errors.push_back(util::printable(o.report_dir.string()) + ": not a facecat report (no " +
                                kOwnedDirMarker + "); its thumbnails were left alone");
    } else {
      for (const auto& f : faces)
        unlink_counted((o.report_dir / "thumbs" / (std::to_string(f.id) + ".jpg")).string(), n["thumbnails"],
                       res.disk_errors);
    }
  }
  for (const auto& v : vk_files) unlink_counted(v.path, n["vk_photo_files"], res.disk_errors);
  // The search index files beside the catalog (<catalog name>.faiss-<model>.index) hold descriptors: removed, and
  // rebuilt from the catalog when a search next needs one.
  {
    std::error_code ec;
    const fs::path dir = cat.path().has_parent_path() ? cat.path().parent_path() : fs::path(".");
    const std::string stem = cat.path().filename().string() + ".faiss-";
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      const std::string name = it->path().filename().string();
      if (name.rfind(stem, 0) == 0 && name.size() > 6 && name.substr(name.size() - 6) == ".index")
        unlink_counted(it->path().string(), n["index_files"], res.disk_errors);
    }
  }

  // ---- the pages that held the data: zeroed (secure_delete), then rewritten without them (VACUUM), and the WAL
  // that still held older copies of them truncated.
  const auto t1 = clk::now();
  try {
    db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    if (o.vacuum) {
      db.exec("VACUUM");
      db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    }
  } catch (const catalog::DbError& e) {
    res.disk_errors.push_back(std::string("catalog: the erase is committed, but rewriting its pages failed (run "
                                          "facecat-people erase again, or VACUUM): ") + e.what());
  }
  res.seconds_vacuum = std::chrono::duration<double>(clk::now() - t1).count();
  return res;
}

}  // namespace facecat::people
