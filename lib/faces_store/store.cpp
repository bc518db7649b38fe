#include "faces_store/store.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>

#include "core/output.hpp"
#include "util/text.hpp"

namespace facecat::faces_store {
namespace {
using json = nlohmann::json;

void put_common(json& r, const char* event, const DetectionRecord& d) {
  r["event"] = event;
  put_path(r, d.file);
  if (!d.file_hash.empty()) r["hash"] = d.file_hash;
  r["pipeline"] = d.pipeline_version;
  r["pipeline_name"] = d.pipeline_name;
}

bool get_int(const json& r, const char* k, int& out) {
  auto it = r.find(k);
  if (it == r.end() || !it->is_number_integer()) return false;
  auto v = it->get<int64_t>();
  if (v < INT32_MIN || v > INT32_MAX) return false;
  out = int(v);
  return true;
}
std::string get_str(const json& r, const char* k) {
  auto it = r.find(k);
  return it != r.end() && it->is_string() ? it->get<std::string>() : std::string();
}
bool is_hex(const std::string& s, size_t n) {
  if (s.size() != n) return false;
  for (char c : s)
    if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

}  // namespace

std::string floats_to_blob(const float* v, size_t n) {
  std::string out(n * 4, '\0');
  for (size_t i = 0; i < n; ++i) {
    uint32_t u;
    std::memcpy(&u, &v[i], 4);
    for (int b = 0; b < 4; ++b) out[i * 4 + size_t(b)] = char((u >> (8 * b)) & 0xff);
  }
  return out;
}

std::vector<float> blob_to_floats(const std::string& b) {
  std::vector<float> out(b.size() / 4);
  for (size_t i = 0; i < out.size(); ++i) {
    uint32_t u = 0;
    for (int k = 0; k < 4; ++k) u |= uint32_t(uint8_t(b[i * 4 + size_t(k)])) << (8 * k);
    std::memcpy(&out[i], &u, 4);
  }
  return out;
}

double iou(int ax, int ay, int aw, int ah, int bx, int by, int bw, int bh) {
  const double ix = std::max(0, std::min(ax + aw, bx + bw) - std::max(ax, bx));
  const double iy = std::max(0, std::min(ay + ah, by + bh) - std::max(ay, by));
  const double inter = ix * iy;
  const double uni = double(aw) * ah + double(bw) * bh - inter;
  return uni > 0 ? inter / uni : 0.0;
}

json pipeline_record(const std::string& name, const std::string& version, const PipelineParams& params) {
  return {{"event", "pipeline"}, {"pipeline_name", name}, {"pipeline", version}, {"params", to_json(params)}};
}

std::vector<json> to_records(const DetectionRecord& d, bool with_landmarks) {
  std::vector<json> out;
  if (!d.error.empty()) {
    json r;
    put_common(r, "error", d);
    r["reason"] = d.error;
    out.push_back(std::move(r));
    return out;
  }
  if (d.faces.empty()) {
    json r;
    put_common(r, "file", d);
    r["face_count"] = 0;
    r["model"] = d.model_id;
    r["width"] = d.width;
    r["height"] = d.height;
    out.push_back(std::move(r));
    return out;
  }
  for (const auto& f : d.faces) {
    json r;
    put_common(r, "face", d);
    r["face_index"] = f.index;
    r["face_count"] = d.faces.size();
    r["box"] = {f.x, f.y, f.w, f.h};
    r["conf"] = f.conf;
    r["label"] = f.label;
    r["descriptor"] = f.descriptor.empty() ? json(nullptr) : json(util::base64_encode(f.descriptor));
    r["model"] = d.model_id;
    if (f.crop_path.empty())
      r["crop"] = nullptr;
    else
      put_path(r, f.crop_path, "crop");
    if (!f.chip_path.empty()) put_path(r, f.chip_path, "chip");
    r["quality"] = f.quality;
    r["width"] = d.width;
    r["height"] = d.height;
    if (with_landmarks && !f.landmarks.empty()) {
      auto v = blob_to_floats(f.landmarks);
      json pts = json::array();
      for (size_t i = 0; i + 1 < v.size(); i += 2) pts.push_back({v[i], v[i + 1]});
      r["landmarks"] = pts;
    }
    out.push_back(std::move(r));
  }
  return out;
}

std::string RecordAssembler::pending_what() const {
  std::string out;
  int shown = 0;
  for (const auto& [key, p] : open_) {
    if (shown++ == 3) return out + " (and " + std::to_string(open_.size() - 3) + " more)";
    out += (out.empty() ? "" : "; ") + std::string("the detection of ") + util::utf8_lossy(p.d.file) + " (" +
           p.d.file_hash + (p.line ? ", from line " + std::to_string(p.line) : "") + ") has " +
           std::to_string(p.d.faces.size()) + " of its " + std::to_string(p.expected) + " face records";
  }
  return out;
}

Result<std::optional<DetectionRecord>> RecordAssembler::add(const json& r, int64_t line) {
  std::pair<std::string, std::string> key;
  auto fail = [&](const std::string& m) -> Result<std::optional<DetectionRecord>> {
    open_.erase(key);
    return make_error(m);
  };
  if (!r.is_object()) return make_error("not a JSON object");
  // Records of facecat 0.x before issue 13 name the file "file"/"file_hash", the face "face", the count "faces"
  // and an error {"error": why}; both spellings are read.
  const std::string event = get_str(r, "event");
  if (event == "pipeline") {  // detect prints its pipeline once; detections of that version get its params
    auto p = from_json(r.value("params", json::object()));
    if (!p) return make_error("\"params\": " + p.error().message);
    const std::string v = get_str(r, "pipeline");
    if (version_of(*p) != v) return make_error("\"params\" hash to version " + version_of(*p) + ", not " + v);
    params_[v] = *p;
    return std::optional<DetectionRecord>();
  }
  if (!event.empty() && event != "face" && event != "file" && event != "error") {
    if (event == "warning" || event == "summary") return std::optional<DetectionRecord>();  // not detections
    return make_error("a \"" + event + "\" record is not facecat-detect's output");
  }
  DetectionRecord d;
  d.file = get_path(r, "path");
  if (d.file.empty()) d.file = get_path(r, "file");
  d.file_hash = get_str(r, "hash");
  if (d.file_hash.empty()) d.file_hash = get_str(r, "file_hash");
  d.pipeline_version = get_str(r, "pipeline");
  d.pipeline_name = get_str(r, "pipeline_name");
  key = {d.file_hash, d.pipeline_version};
  auto open = open_.find(key);
  auto what = [&] { return "the detection of " + util::utf8_lossy(open->second.d.file) + " (" +
                           std::to_string(open->second.d.faces.size()) + " of " +
                           std::to_string(open->second.expected) + " face records)"; };
  if (event == "error" || (event.empty() && r.contains("error"))) {
    // Error records are complete in themselves; the caller decides whether they are stored.
    if (open != open_.end()) return fail("an error record interrupts " + what());
    const json& why = event == "error" ? r.value("reason", json("")) : r["error"];
    d.error = why.is_string() ? why.get<std::string>() : why.dump();
    if (d.error.empty()) d.error = "error";
    return std::optional<DetectionRecord>(std::move(d));
  }
  if (!is_hex(d.file_hash, 32)) return fail("\"hash\" must be 32 hex digits");
  if (d.pipeline_version.empty()) return fail("\"pipeline\" (the pipeline version) is missing");
  if (auto it = r.find("pipeline_params"); it != r.end()) {
    auto p = from_json(*it);
    if (!p) return fail(p.error().message);
    if (version_of(*p) != d.pipeline_version)
      return fail("\"pipeline_params\" hash to version " + version_of(*p) + ", not " + d.pipeline_version);
    d.pipeline_params = *p;
  } else if (auto k = params_.find(d.pipeline_version); k != params_.end()) {
    d.pipeline_params = k->second;
  }
  d.model_id = get_str(r, "model");
  int n = -1;
  if ((!get_int(r, "face_count", n) && !get_int(r, "faces", n)) || n < 0)
    return fail("\"face_count\" (the number of faces in the file) is missing");
  get_int(r, "width", d.width);
  get_int(r, "height", d.height);
  if (n == 0) {
    if (open != open_.end()) return fail("a \"face_count\":0 record interrupts " + what());
    return std::optional<DetectionRecord>(std::move(d));
  }
  FaceRow f;
  if (!get_int(r, "face_index", f.index) && !get_int(r, "face", f.index))
    return fail("\"face_index\" (the face's index in its image) is missing");
  auto box = r.find("box");
  if (box == r.end() || !box->is_array() || box->size() != 4) return fail("\"box\" must be [x,y,w,h]");
  for (const auto& v : *box)
    if (!v.is_number_integer()) return fail("\"box\" must hold integers");
  f.x = (*box)[0].get<int>();
  f.y = (*box)[1].get<int>();
  f.w = (*box)[2].get<int>();
  f.h = (*box)[3].get<int>();
  if (f.w <= 0 || f.h <= 0) return fail("\"box\" has no area");
  if (auto c = r.find("conf"); c != r.end() && c->is_number()) f.conf = c->get<double>();
  f.label = get_str(r, "label");
  if (f.label.empty()) f.label = "face";
  if (auto de = r.find("descriptor"); de != r.end() && !de->is_null()) {
    if (!de->is_string()) return fail("\"descriptor\" must be base64 text");
    auto raw = util::base64_decode(de->get<std::string>());
    if (!raw || raw->size() != 512) return fail("\"descriptor\" is not base64 of 128 float32 (512 bytes)");
    if (d.model_id.empty()) return fail("a descriptor without \"model\"");
    f.descriptor = *raw;
  }
  if (auto lm = r.find("landmarks"); lm != r.end() && !lm->is_null()) {
    if (!lm->is_array()) return fail("\"landmarks\" must be [[x,y],…]");
    std::vector<float> v;
    for (const auto& p : *lm) {
      if (!p.is_array() || p.size() != 2 || !p[0].is_number() || !p[1].is_number())
        return fail("\"landmarks\" must be [[x,y],…]");
      v.push_back(p[0].get<float>());
      v.push_back(p[1].get<float>());
    }
    f.landmarks = floats_to_blob(v.data(), v.size());
  }
  if (auto q = r.find("quality"); q != r.end() && q->is_object()) f.quality = *q;
  f.crop_path = get_path(r, "crop");

  if (open == open_.end()) {
    if (open_.size() >= kMaxOpen)
      return make_error("more than " + std::to_string(kMaxOpen) + " files have face records missing");
    d.faces.clear();
    open = open_.emplace(key, Partial{std::move(d), n, line}).first;
  } else if (n != open->second.expected) {
    return fail("\"face_count\" changed within one file");
  }
  Partial& p = open->second;
  if (f.index != int(p.d.faces.size()))
    return fail("face " + std::to_string(f.index) + " where face " + std::to_string(p.d.faces.size()) +
                " was expected");
  p.d.faces.push_back(std::move(f));
  if (int(p.d.faces.size()) < p.expected) return std::optional<DetectionRecord>();
  auto done = std::move(p.d);
  open_.erase(open);
  return std::optional<DetectionRecord>(std::move(done));
}

int shard_of(const std::string& hash, int n) {
  if (n <= 1) return 0;
  uint64_t v = 0;
  for (size_t i = 0; i < 16 && i < hash.size(); ++i) {
    const char c = hash[i];
    const int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : 0;
    v = (v << 4) | uint64_t(d);
  }
  return int(v % uint64_t(n));
}

std::string host_name() {
  char h[256] = {0};
  ::gethostname(h, sizeof h - 1);
  return h;
}

int drop_blocked_faces(catalog::Db& db, DetectionRecord& d) {
  if (d.faces.empty() || d.file_hash.empty()) return 0;
  std::vector<std::array<int, 4>> blocked;
  auto s = db.prepare("SELECT x, y, w, h FROM blocked_faces WHERE file_hash = ?1");
  s.bind(1, d.file_hash);
  while (s.step())
    blocked.push_back({static_cast<int>(s.i64(0)), static_cast<int>(s.i64(1)), static_cast<int>(s.i64(2)),
                       static_cast<int>(s.i64(3))});
  if (blocked.empty()) return 0;
  const size_t before = d.faces.size();
  std::erase_if(d.faces, [&](const FaceRow& f) {
    for (const auto& b : blocked)
      if (iou(f.x, f.y, f.w, f.h, b[0], b[1], b[2], b[3]) >= 0.5) return true;
    return false;
  });
  return static_cast<int>(before - d.faces.size());
}

Result<StoreResult> store_detection(catalog::Db& db, const DetectionRecord& d_in, const std::string& host) {
  // Faces a person had erased with --block are never stored again (nor their descriptors).
  DetectionRecord filtered;
  const DetectionRecord* dp = &d_in;
  if (!d_in.faces.empty()) {
    filtered = d_in;
    if (drop_blocked_faces(db, filtered)) dp = &filtered;
  }
  const DetectionRecord& d = *dp;
  StoreResult res;
  if (d.file_hash.empty() || d.pipeline_version.empty()) return make_error("a detection needs hash and pipeline");
  const int64_t now = util::now_unix();
  {
    auto s = db.prepare("SELECT 1 FROM files WHERE hash = ?1 LIMIT 1");
    s.bind(1, d.file_hash);
    res.known_file = s.step();
  }
  if (d.pipeline_params && !d.pipeline_name.empty() && valid_pipeline_name(d.pipeline_name) &&
      !pipeline_exists(db, d.pipeline_name))
    save_pipeline(db, d.pipeline_name, *d.pipeline_params);
  if (!d.model_id.empty()) {
    auto dash = d.model_id.rfind('-');
    auto s = db.prepare("INSERT OR IGNORE INTO models (id, name, source, dims, created_at) VALUES (?1, ?2, NULL, 128, ?3)");
    s.bind_all(d.model_id, dash == std::string::npos ? d.model_id : d.model_id.substr(0, dash), now);
    s.run();
  }

  // Faces this content already has: same version (replaced now) and others (lending their assignments).
  struct Old {
    int64_t id;
    bool same;
    int x, y, w, h;
    std::optional<int64_t> person, cluster;
    std::optional<std::string> assignment;
    bool used = false;
  };
  std::vector<Old> old;
  {
    auto s = db.prepare(
        "SELECT id, pipeline_version = ?2, x, y, w, h, person_id, assignment, cluster_id FROM faces "
        "WHERE file_hash = ?1 AND (pipeline_version = ?2 OR person_id IS NOT NULL OR assignment IS NOT NULL) "
        "ORDER BY id");
    s.bind(1, d.file_hash).bind(2, d.pipeline_version);
    while (s.step())
      old.push_back({s.i64(0), s.i64(1) != 0, int(s.i64(2)), int(s.i64(3)), int(s.i64(4)), int(s.i64(5)),
                     s.opt_i64(6), s.opt_i64(8), s.opt_text(7)});
  }
  {
    auto s = db.prepare("SELECT 1 FROM detections WHERE file_hash = ?1 AND pipeline_version = ?2");
    s.bind(1, d.file_hash).bind(2, d.pipeline_version);
    res.replaced = s.step();
  }
  // Greedy one-to-one matching by IoU (> 0.9), best pairs first; same-version faces first.
  std::vector<int> same_of(d.faces.size(), -1), lend_of(d.faces.size(), -1);
  struct Pair { double iou; size_t n, o; };
  std::vector<Pair> pairs;
  for (size_t n = 0; n < d.faces.size(); ++n)
    for (size_t o = 0; o < old.size(); ++o) {
      const auto& f = d.faces[n];
      double v = iou(f.x, f.y, f.w, f.h, old[o].x, old[o].y, old[o].w, old[o].h);
      if (v > 0.9) pairs.push_back({v, n, o});
    }
  std::sort(pairs.begin(), pairs.end(), [&](const Pair& a, const Pair& b) {
    if (old[a.o].same != old[b.o].same) return old[a.o].same;
    bool ca = old[a.o].assignment == "confirmed", cb = old[b.o].assignment == "confirmed";
    if (ca != cb) return ca;
    return a.iou != b.iou ? a.iou > b.iou : a.o < b.o;
  });
  for (const auto& p : pairs) {
    if (old[p.o].used) continue;
    if (old[p.o].same) {
      if (same_of[p.n] >= 0) continue;
      same_of[p.n] = int(p.o);
      old[p.o].used = true;
    } else {
      if (lend_of[p.n] >= 0 || (same_of[p.n] >= 0 && (old[size_t(same_of[p.n])].person ||
                                                       old[size_t(same_of[p.n])].assignment)))
        continue;
      lend_of[p.n] = int(p.o);  // other versions' faces may lend to one new face each; they stay in place
      old[p.o].used = true;
    }
  }
  for (const auto& o : old)
    if (o.same && !o.used && o.assignment == "confirmed")
      return make_error("re-detecting would drop face " + std::to_string(o.id) + " (confirmed as person " +
                        std::to_string(o.person.value_or(0)) + ") of " + d.file_hash +
                        ": no new face has the same box; the old result was kept");

  // Where replaced faces' names came from (face_sources, facecat-digikam import): the faces are deleted and
  // re-inserted under their ids below, and ON DELETE CASCADE would drop these rows with them.
  struct Source {
    int64_t face_id;
    std::string source, ref;
    std::optional<std::string> name;
    int64_t created, imported_at;
  };
  std::vector<Source> sources;
  {
    auto s = db.prepare("SELECT source, ref, name, created, imported_at FROM face_sources WHERE face_id = ?1");
    for (size_t n = 0; n < d.faces.size(); ++n) {
      if (same_of[n] < 0) continue;
      const int64_t id = old[size_t(same_of[n])].id;
      s.bind(1, id);
      while (s.step()) sources.push_back({id, s.text(0), s.text(1), s.opt_text(2), s.i64(3), s.i64(4)});
      s.reset();
    }
  }
  db.prepare("DELETE FROM faces WHERE file_hash = ?1 AND pipeline_version = ?2")
      .bind(1, d.file_hash).bind(2, d.pipeline_version).run();
  db.prepare("DELETE FROM detections WHERE file_hash = ?1 AND pipeline_version = ?2")
      .bind(1, d.file_hash).bind(2, d.pipeline_version).run();
  {
    auto s = db.prepare(
        "INSERT INTO detections (file_hash, pipeline_version, model_id, n_faces, width, height, error, processed_at, "
        "host) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
    s.bind(1, d.file_hash).bind(2, d.pipeline_version).bind(3, d.model_id).bind(4, int64_t(d.faces.size()));
    if (d.width > 0) s.bind(5, d.width); else s.bind(5, nullptr);
    if (d.height > 0) s.bind(6, d.height); else s.bind(6, nullptr);
    if (d.error.empty()) s.bind(7, nullptr); else s.bind(7, d.error);
    s.bind(8, now).bind(9, host);
    s.run();
  }
  auto ins = db.prepare(
      "INSERT INTO faces (id, file_hash, pipeline_version, face_index, model_id, x, y, w, h, conf, label, descriptor, "
      "landmarks, quality, crop_path, person_id, assignment, cluster_id, created_at) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)");
  for (size_t n = 0; n < d.faces.size(); ++n) {
    const auto& f = d.faces[n];
    const Old* same = same_of[n] >= 0 ? &old[size_t(same_of[n])] : nullptr;
    const Old* lend = lend_of[n] >= 0 ? &old[size_t(lend_of[n])] : nullptr;
    const Old* who = same && (same->person || same->assignment) ? same : lend;
    if (same) ins.bind(1, same->id); else ins.bind(1, nullptr);  // a replaced face keeps its id
    ins.bind(2, d.file_hash).bind(3, d.pipeline_version).bind(4, f.index).bind(5, d.model_id);
    ins.bind(6, f.x).bind(7, f.y).bind(8, f.w).bind(9, f.h).bind(10, f.conf).bind(11, f.label);
    if (f.descriptor.empty()) ins.bind(12, nullptr); else ins.bind_blob(12, f.descriptor);
    if (f.landmarks.empty()) ins.bind(13, nullptr); else ins.bind_blob(13, f.landmarks);
    ins.bind(14, f.quality.dump());
    if (f.crop_path.empty()) ins.bind(15, nullptr); else ins.bind_blob(15, f.crop_path);
    ins.bind(16, who ? who->person : std::nullopt);
    ins.bind(17, who ? who->assignment : std::nullopt);
    ins.bind(18, same ? same->cluster : std::nullopt);
    ins.bind(19, now);
    ins.run();
    ins.reset();
    if (who && (who->person || who->assignment)) ++res.kept_assignments;
  }
  if (!sources.empty()) {
    auto s = db.prepare(
        "INSERT OR REPLACE INTO face_sources (face_id, source, ref, name, created, imported_at) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    for (const auto& x : sources) {
      s.bind(1, x.face_id).bind(2, x.source).bind(3, x.ref).bind(5, x.created).bind(6, x.imported_at);
      if (x.name) s.bind(4, *x.name); else s.bind(4, nullptr);
      s.run();
      s.reset();
    }
  }
  res.faces = int(d.faces.size());
  return res;
}

std::vector<PendingFile> pending_files(catalog::Db& db, const std::string& version) {
  std::vector<PendingFile> out;
  auto s = db.prepare(
      "SELECT min(f.path), f.hash, min(f.origin) FROM files f "
      "WHERE f.kind = 'image' AND f.status = 'present' AND f.error IS NULL AND f.hash IS NOT NULL "
      "AND NOT EXISTS (SELECT 1 FROM detections d WHERE d.file_hash = f.hash AND d.pipeline_version = ?1) "
      "GROUP BY f.hash ORDER BY 1");
  s.bind(1, version);
  while (s.step()) out.push_back({s.blob(0), s.text(1), s.text(2)});
  return out;
}

}  // namespace facecat::faces_store
