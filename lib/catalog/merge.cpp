#include "catalog/merge.hpp"

#include <algorithm>
#include <array>
#include <system_error>

#include "catalog/catalog.hpp"
#include "core/signals.hpp"

namespace facecat::catalog {
namespace {

bool has_table(const Db& db, const char* name) {
  auto s = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1");
  s.bind(1, name);
  return s.step();
}

int64_t count(const Db& db, const std::string& sql) { return db.scalar_int(sql).value_or(0); }

// Why `other` cannot be merged as a detect shard; empty when it can.
std::string refusal(const Db& other) {
  struct What {
    const char* table;
    const char* sql;
    const char* name;
  };
  static const What what[] = {
      {"people", "SELECT count(*) FROM people", "people"},
      {"faces", "SELECT count(*) FROM faces WHERE person_id IS NOT NULL OR assignment IS NOT NULL", "assigned faces"},
      {"faces", "SELECT count(*) FROM faces WHERE cluster_id IS NOT NULL", "clustered faces"},
      {"person_sources", "SELECT count(*) FROM person_sources", "person sources"},
      {"friendships", "SELECT count(*) FROM friendships", "friendships"},
      {"vk_crawl", "SELECT count(*) FROM vk_crawl", "VK crawl rows"},
      {"vk_photos", "SELECT count(*) FROM vk_photos", "VK photos"},
      {"video_tasks", "SELECT count(*) FROM video_tasks", "video scene tasks"},
      {"face_sources", "SELECT count(*) FROM face_sources", "imported face names"},
  };
  std::string found;
  for (const auto& w : what) {
    if (!has_table(other, w.table)) continue;
    if (int64_t n = count(other, w.sql))
      found += (found.empty() ? "" : ", ") + std::to_string(n) + " " + w.name;
  }
  return found;
}

constexpr const char* kFileCols =
    "path, size, mtime_ns, inode, dev, hash, kind, format, width, height, orientation, taken_at, taken_offset, make, "
    "model, lens, gps_lat, gps_lon, gps_alt, exposure_time, f_number, iso, focal_length, status, error, warning, "
    "origin, first_seen, last_seen, changed_at";
constexpr int kFileNCols = 30;  // path first, hash 6th (index 5), size 2nd (index 1)
constexpr const char* kFaceCols =
    "face_index, model_id, x, y, w, h, conf, label, descriptor, landmarks, quality, crop_path, created_at";
constexpr int kFaceNCols = 13;  // crop_path at index 11

// IoU >= 0.5 with one of the blocked boxes (the rule of faces_store::drop_blocked_faces).
bool is_blocked(const std::vector<std::array<int64_t, 4>>& boxes, int64_t x, int64_t y, int64_t w, int64_t h) {
  for (const auto& b : boxes) {
    const double ix = std::max<double>(0, std::min(x + w, b[0] + b[2]) - std::max(x, b[0]));
    const double iy = std::max<double>(0, std::min(y + h, b[1] + b[3]) - std::max(y, b[1]));
    const double inter = ix * iy, uni = double(w) * h + double(b[2]) * b[3] - inter;
    if (uni > 0 && inter / uni >= 0.5) return true;
  }
  return false;
}

std::string placeholders(int first, int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += (i ? ", ?" : "?") + std::to_string(first + i);
  return s;
}

void poll_interrupt(int64_t& n) {
  if (++n % 1024 == 0) throw_if_interrupted();
}

}  // namespace

nlohmann::json MergeCounts::to_json() const {
  return {{"file_count", files},           {"known_file_count", files_known}, {"detection_count", detections},
          {"known_detection_count", detections_known}, {"face_count", faces}, {"pipeline_count", pipelines},
          {"model_count", models},        {"blocked_face_count", faces_blocked}, {"warnings", warnings}};
}

Result<MergeCounts> merge_catalog(Db& db, const std::filesystem::path& other_path, const util::PathMap& paths) {
  const std::string name = other_path.string();
  std::error_code ec;
  if (!std::filesystem::is_regular_file(other_path, ec))
    return make_error(name + ": " + (std::filesystem::exists(other_path, ec) ? "not a regular file" : "no such file"));
  Db other;
  try {
    other = Db::open(name, /*read_only=*/true, 10000);
    const auto v = other.scalar_int("PRAGMA user_version").value_or(0);  // "file is not a database" shows here
    if (v <= 0 || !has_table(other, "files") || !has_table(other, "detections") || !has_table(other, "faces"))
      return make_error(name + ": not a facecat catalog (no schema version or no files/detections/faces tables)");
    if (v > kSchemaVersion)
      return make_error(name + ": catalog schema version " + std::to_string(v) + " is newer than this facecat's (" +
                        std::to_string(kSchemaVersion) + "); upgrade facecat to merge it");
    if (auto r = refusal(other); !r.empty())
      return make_error(name + ": holds " + r + "; merge joins detect shards (files, detections, faces, pipelines, "
                        "models) only, so nothing was merged");
  } catch (const DbError& e) {
    return make_error(name + ": cannot read it as a catalog: " + e.what());
  }

  MergeCounts c;
  int64_t rows = 0;
  try {
    Transaction tx(db);
    {  // models
      auto get = other.prepare("SELECT id, name, source, dims, created_at FROM models ORDER BY id");
      auto put = db.prepare("INSERT OR IGNORE INTO models (id, name, source, dims, created_at) VALUES (?1, ?2, ?3, ?4, ?5)");
      while (get.step()) {
        for (int i = 0; i < 5; ++i) put.bind_column(i + 1, get, i);
        put.run();
        c.models += db.changes();
        put.reset();
      }
    }
    {  // pipelines
      auto get = other.prepare("SELECT name, params, version, updated_at FROM pipelines ORDER BY name");
      auto ours = db.prepare("SELECT version FROM pipelines WHERE name = ?1");
      auto put = db.prepare("INSERT INTO pipelines (name, params, version, updated_at) VALUES (?1, ?2, ?3, ?4)");
      while (get.step()) {
        ours.bind(1, get.text(0));
        if (ours.step()) {
          if (ours.text(0) != get.text(2))
            c.warnings.push_back("pipeline '" + get.text(0) + "' is version " + get.text(2) + " there and " +
                                 ours.text(0) + " here: kept this catalog's; its detections are merged all the same");
        } else {
          for (int i = 0; i < 4; ++i) put.bind_column(i + 1, get, i);
          put.run();
          put.reset();
          ++c.pipelines;
        }
        ours.reset();
      }
    }
    {  // files
      auto get = other.prepare(std::string("SELECT ") + kFileCols + " FROM files ORDER BY id");
      auto known = db.prepare("SELECT 1 FROM files WHERE path = ?1");
      auto dup = db.prepare("SELECT id FROM files WHERE hash = ?1 AND +status = 'present' ORDER BY id LIMIT 1");
      auto put = db.prepare(std::string("INSERT INTO files (") + kFileCols + ", duplicate_of) VALUES (" +
                            placeholders(1, kFileNCols) + ", ?" + std::to_string(kFileNCols + 1) + ")");
      while (get.step()) {
        poll_interrupt(rows);
        const std::string path = paths.forward(get.blob(0));
        known.bind_blob(1, path);
        const bool have = known.step();
        known.reset();
        if (have) {
          ++c.files_known;
          continue;
        }
        std::optional<int64_t> dup_of;
        if (!get.is_null(5) && get.i64(1) > 0) {
          dup.bind(1, get.text(5));
          if (dup.step()) dup_of = dup.i64(0);
          dup.reset();
        }
        put.bind_blob(1, path);
        for (int i = 1; i < kFileNCols; ++i) put.bind_column(i + 1, get, i);
        put.bind(kFileNCols + 1, dup_of);
        put.run();
        put.reset();
        ++c.files;
      }
    }
    {  // detections and their faces
      auto get = other.prepare(
          "SELECT file_hash, pipeline_version, model_id, n_faces, width, height, error, processed_at, host "
          "FROM detections ORDER BY file_hash, pipeline_version");
      auto known = db.prepare("SELECT 1 FROM detections WHERE file_hash = ?1 AND pipeline_version = ?2");
      auto put = db.prepare(
          "INSERT INTO detections (file_hash, pipeline_version, model_id, n_faces, width, height, error, "
          "processed_at, host) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
      auto faces = other.prepare(std::string("SELECT ") + kFaceCols +
                                 " FROM faces WHERE file_hash = ?1 AND pipeline_version = ?2 ORDER BY face_index");
      auto put_face = db.prepare(std::string("INSERT INTO faces (file_hash, pipeline_version, ") + kFaceCols +
                                 ") VALUES (?1, ?2, " + placeholders(3, kFaceNCols) + ")");
      auto blocked = db.prepare("SELECT x, y, w, h FROM blocked_faces WHERE file_hash = ?1");
      auto fix_count = db.prepare(
          "UPDATE detections SET n_faces = n_faces - ?1 WHERE file_hash = ?2 AND pipeline_version = ?3");
      while (get.step()) {
        poll_interrupt(rows);
        known.bind(1, get.text(0)).bind(2, get.text(1));
        const bool have = known.step();
        known.reset();
        if (have) {
          ++c.detections_known;
          continue;
        }
        for (int i = 0; i < 9; ++i) put.bind_column(i + 1, get, i);
        put.run();
        put.reset();
        ++c.detections;
        // Faces a person had erased here with --block are not merged back (nor their descriptors).
        std::vector<std::array<int64_t, 4>> blocked_boxes;
        blocked.bind(1, get.text(0));
        while (blocked.step()) blocked_boxes.push_back({blocked.i64(0), blocked.i64(1), blocked.i64(2), blocked.i64(3)});
        blocked.reset();
        int64_t dropped = 0;
        faces.bind(1, get.text(0)).bind(2, get.text(1));
        while (faces.step()) {
          if (is_blocked(blocked_boxes, faces.i64(2), faces.i64(3), faces.i64(4), faces.i64(5))) {
            ++dropped;
            continue;
          }
          put_face.bind(1, get.text(0)).bind(2, get.text(1));
          for (int i = 0; i < kFaceNCols; ++i) put_face.bind_column(i + 3, faces, i);
          if (!faces.is_null(11)) put_face.bind_blob(3 + 11, paths.forward(faces.blob(11)));
          put_face.run();
          put_face.reset();
          ++c.faces;
        }
        faces.reset();
        if (dropped) {
          fix_count.bind(1, dropped).bind(2, get.text(0)).bind(3, get.text(1));
          fix_count.run();
          fix_count.reset();
          c.faces_blocked += dropped;
        }
      }
    }
    tx.commit();
  } catch (const DbError& e) {
    return make_error(name + ": merge failed, nothing was merged: " + e.what());
  }
  return c;
}

}  // namespace facecat::catalog
