#include "people/show.hpp"

#include "core/exit_codes.hpp"
#include "core/output.hpp"
#include "util/text.hpp"

namespace facecat::people {

using json = nlohmann::json;

namespace {

// The files row a face is shown under: a present copy first, then the original of duplicates, then the oldest.
constexpr const char* kFaceFile =
    "LEFT JOIN files fi ON fi.id = (SELECT id FROM files WHERE files.hash = f.file_hash "
    "  ORDER BY status = 'present' DESC, duplicate_of IS NULL DESC, id LIMIT 1) ";

json box_of(const catalog::Stmt& s, int c) { return json::array({s.i64(c), s.i64(c + 1), s.i64(c + 2), s.i64(c + 3)}); }

json opt_text(const catalog::Stmt& s, int c) { return s.is_null(c) ? json(nullptr) : json(s.text(c)); }
json opt_int(const catalog::Stmt& s, int c) { return s.is_null(c) ? json(nullptr) : json(s.i64(c)); }

void put_file(json& r, const catalog::Stmt& s, int path_col, int id_col, int hash_col) {
  if (s.is_null(path_col)) r["path"] = nullptr;
  else put_path(r, s.blob(path_col));
  r["file_id"] = opt_int(s, id_col);
  r["hash"] = opt_text(s, hash_col);
}

// The files row whose path (raw bytes, a BLOB) or hash (text) is `value`.
std::optional<PhotoRow> photo_where(catalog::Db& db, bool by_path, const std::string& value) {
  auto s = db.prepare(std::string("SELECT id, path, coalesce(hash, ''), kind, error FROM files WHERE ") +
                      (by_path ? "path" : "hash") +
                      " = ?1 ORDER BY status = 'present' DESC, duplicate_of IS NULL DESC, id LIMIT 1");
  if (by_path) s.bind_blob(1, value);
  else s.bind(1, value);
  if (!s.step()) return std::nullopt;
  PhotoRow p;
  p.file_id = s.i64(0);
  p.path = s.blob(1);
  p.hash = s.text(2);
  p.kind = s.text(3);
  if (!s.is_null(4)) p.error = s.text(4);
  return p;
}

}  // namespace

FaceCounts face_counts(catalog::Db& db, int64_t person) {
  auto s = db.prepare(
      "SELECT count(*), "
      " coalesce(sum(f.assignment = 'confirmed' OR (f.assignment IS NULL AND p.status = 'confirmed')), 0) "
      "FROM faces f JOIN people p ON p.id = f.person_id "
      "WHERE f.person_id = ? AND coalesce(f.assignment, '') <> 'rejected' AND f.label = 'face'");
  s.bind(1, person);
  FaceCounts c;
  if (s.step()) {
    c.faces = s.i64(0);
    c.confirmed = s.i64(1);
    c.suggested = c.faces - c.confirmed;
  }
  return c;
}

Result<std::vector<json>> show(catalog::Db& db, const Ref& ref) {
  std::vector<json> out;
  std::optional<int64_t> pid;
  if (ref.kind == Ref::Kind::Cluster) {
    pid = person_of_cluster(db, ref.id);
  } else {
    auto p = person_id_of(db, ref);
    if (!p) return p.error();
    pid = *p;
  }
  std::string pstatus;
  if (pid) {
    auto s = db.prepare("SELECT name, status FROM people WHERE id = ?");
    s.bind(1, *pid);
    if (!s.step()) return make_error("no person p" + std::to_string(*pid), exit_code::usage);
    pstatus = s.text(1);
    const FaceCounts c = face_counts(db, *pid);
    json clusters = json::array();
    auto cl = db.prepare(
        "SELECT DISTINCT cluster_id FROM faces WHERE person_id = ? AND cluster_id IS NOT NULL "
        "AND coalesce(assignment, '') <> 'rejected' AND label = 'face' ORDER BY 1");
    cl.bind(1, *pid);
    while (cl.step()) clusters.push_back(cl.i64(0));
    out.push_back(json{{"event", "person"},
                       {"person_id", *pid},
                       {"name", opt_text(s, 0)},
                       {"status", pstatus},
                       {"face_count", c.faces},
                       {"confirmed_count", c.confirmed},
                       {"suggested_count", c.suggested},
                       {"cluster_ids", clusters}});
  }
  // Faces: the person's (not rejected), or a person-less cluster's.
  auto s = db.prepare(std::string(
      "SELECT f.id, f.face_index, f.x, f.y, f.w, f.h, f.assignment, f.cluster_id, f.crop_path, "
      " fi.id, fi.path, f.file_hash, f.person_id, p.name, p.status "
      "FROM faces f LEFT JOIN people p ON p.id = f.person_id ") + kFaceFile +
      (pid ? "WHERE f.person_id = ?1 AND coalesce(f.assignment, '') <> 'rejected' "
           : "WHERE f.cluster_id = ?1 AND coalesce(f.assignment, '') <> 'rejected' ") +
      "AND f.label = 'face' "
      "ORDER BY (f.assignment = 'confirmed' OR (f.assignment IS NULL AND p.status = 'confirmed')) DESC, "
      " fi.path IS NULL, fi.path, f.face_index, f.id");
  s.bind(1, pid ? *pid : ref.id);
  int64_t n = 0;
  while (s.step()) {
    ++n;
    json r{{"event", "catalog_face"}, {"face_id", s.i64(0)}};
    put_file(r, s, 10, 9, 11);
    r["face_index"] = s.i64(1);
    r["box"] = box_of(s, 2);
    std::string status;
    if (!s.is_null(6)) status = s.text(6);
    else if (!s.is_null(12)) status = s.opt_text(14).value_or("") == "confirmed" ? "confirmed" : "suggested";
    r["status"] = status.empty() ? json(nullptr) : json(status);
    r["person_id"] = opt_int(s, 12);
    r["name"] = opt_text(s, 13);
    r["cluster_id"] = opt_int(s, 7);
    if (s.is_null(8)) r["crop"] = nullptr;
    else put_path(r, s.blob(8), "crop");
    out.push_back(std::move(r));
  }
  if (!pid) {
    out.insert(out.begin(), json{{"event", "cluster"}, {"cluster_id", ref.id}, {"person_id", nullptr},
                                 {"face_count", n}});
  }
  return out;
}

std::optional<PhotoRow> photo_by_path(catalog::Db& db, const std::string& raw_path) {
  return photo_where(db, true, raw_path);
}

std::optional<PhotoRow> photo_by_hash(catalog::Db& db, const std::string& hash) {
  return photo_where(db, false, hash);
}

std::vector<json> faces_in(catalog::Db& db, const PhotoRow& photo, const std::string& pipeline) {
  std::vector<json> out;
  json head{{"event", "catalog_photo"}};
  put_path(head, photo.path);
  head["file_id"] = photo.file_id;
  head["hash"] = photo.hash.empty() ? json(nullptr) : json(photo.hash);
  // The detection shown: the configured pipeline's, else the newest (as facecat-digikam picks it).
  std::optional<std::string> version;
  std::optional<std::string> pipeline_name;
  if (!photo.hash.empty()) {
    auto d = db.prepare(
        "SELECT d.pipeline_version, (SELECT name FROM pipelines WHERE version = d.pipeline_version LIMIT 1) "
        "FROM detections d WHERE d.file_hash = ?1 AND d.error IS NULL "
        "ORDER BY (d.pipeline_version = (SELECT version FROM pipelines WHERE name = ?2)) DESC, "
        " d.processed_at DESC, d.pipeline_version DESC LIMIT 1");
    d.bind(1, photo.hash).bind(2, pipeline);
    if (d.step()) {
      version = d.text(0);
      pipeline_name = d.opt_text(1);
    }
  }
  head["analysed"] = version.has_value();
  head["pipeline"] = pipeline_name ? json(*pipeline_name) : json(nullptr);
  head["face_count"] = 0;
  out.push_back(head);
  if (!version) return out;
  auto s = db.prepare(
      "SELECT f.id, f.face_index, f.x, f.y, f.w, f.h, f.conf, f.cluster_id, f.assignment, f.person_id, p.name, "
      " p.status "
      "FROM faces f LEFT JOIN people p ON p.id = f.person_id "
      "WHERE f.file_hash = ?1 AND f.pipeline_version = ?2 AND f.label = 'face' ORDER BY f.face_index");
  s.bind(1, photo.hash).bind(2, *version);
  int64_t n = 0;
  while (s.step()) {
    ++n;
    json r{{"event", "catalog_face"}, {"face_id", s.i64(0)}};
    put_path(r, photo.path);
    r["file_id"] = photo.file_id;
    r["hash"] = photo.hash;
    r["face_index"] = s.i64(1);
    r["box"] = box_of(s, 2);
    r["conf"] = s.is_null(6) ? json(nullptr) : json(s.f64(6));
    r["cluster_id"] = opt_int(s, 7);
    const std::string assignment = s.opt_text(8).value_or("");
    const bool someone = !s.is_null(9) && assignment != "rejected";
    if (someone) {
      r["person_id"] = s.i64(9);
      r["name"] = opt_text(s, 10);
      r["status"] = !assignment.empty() ? assignment
                    : s.opt_text(11).value_or("") == "confirmed" ? "confirmed"
                                                                 : "suggested";
    } else {
      r["person_id"] = nullptr;
      r["name"] = nullptr;
      r["status"] = nullptr;
    }
    out.push_back(std::move(r));
  }
  out.front()["face_count"] = n;
  return out;
}

}  // namespace facecat::people
