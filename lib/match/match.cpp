#include "match/match.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "core/output.hpp"
#include "face/jitter.hpp"
#include "util/atomic_file.hpp"

namespace facecat::match {

namespace {
CandidateProvider& provider_slot() {
  static CandidateProvider p;
  return p;
}
}  // namespace

void set_candidate_provider(CandidateProvider p) { provider_slot() = std::move(p); }
const CandidateProvider& candidate_provider() { return provider_slot(); }

double confidence(double best_distance, int within, double tolerance) {
  double d = best_distance - 0.01 * std::clamp(within - 1, 0, 4);
  return 1.0 / (1.0 + std::exp((d - tolerance) / 0.03));
}

Matcher::Matcher(catalog::Db& db, const search::FaceSet& faces, const search::Index& index)
    : db_(db), faces_(faces), index_(index) {
  for (size_t i = 0; i < faces.meta.size(); ++i) row_of_.emplace(faces.meta[i].id, i);
  auto s = db.prepare("SELECT id, name, status FROM people");
  while (s.step()) people_[s.i64(0)] = Person{s.opt_text(1), s.text(2), {}};
  auto src = db.prepare("SELECT person_id, source, external_id FROM person_sources");
  while (src.step())
    if (auto p = people_.find(src.i64(0)); p != people_.end()) p->second.sources[src.text(1)] = src.text(2);
  auto h = db.prepare(
      "SELECT f.id, min(fl.source_person_id) FROM faces f "
      "JOIN detections d ON d.file_hash = f.file_hash AND d.pipeline_version = f.pipeline_version "
      "JOIN files fl ON fl.hash = f.file_hash "
      "WHERE f.person_id IS NULL AND fl.source_person_id IS NOT NULL AND d.n_faces = 1 GROUP BY f.id");
  while (h.step()) source_person_[h.i64(0)] = h.i64(1);
}

FaceResult Matcher::match(const float* q, const Options& o, const CandidateFilter* filter) const {
  FaceResult r;
  // Look further than the tolerance so that near misses are shown as candidates (not as matches).
  const float window = static_cast<float>(o.tolerance + 0.25);
  auto nn = index_.knn(q, o.neighbours, window);
  std::map<int64_t, PersonHit> per;
  std::vector<const search::Neighbor*> loose;
  for (auto& n : nn) {
    size_t row = n.row != size_t(-1) ? n.row : row_of_.at(n.id);
    const auto& m = faces_.meta[row];
    int64_t pid = 0;  // 0: nobody (person ids start at 1)
    if (m.person_id && m.assignment != "rejected") pid = *m.person_id;
    if (!m.person_id)
      if (auto sp = source_person_.find(m.id); sp != source_person_.end()) pid = sp->second;
    if (pid == 0) {
      loose.push_back(&n);
      continue;
    }
    if (filter && !filter->people.count(pid)) continue;
    auto [it, fresh] = per.try_emplace(pid);
    PersonHit& h = it->second;
    if (fresh) {
      h.person = pid;
      h.distance = n.distance;
      h.best_face = m.id;
      if (auto p = people_.find(pid); p != people_.end()) {
        h.name = p->second.name;
        h.status = p->second.status;
        h.sources = p->second.sources;
      }
      if (filter)
        if (auto mf = filter->mutual_friends.find(pid); mf != filter->mutual_friends.end()) h.mutual_friends = mf->second;
    }
    if (n.distance <= o.tolerance) ++h.within;
  }
  for (auto& [pid, h] : per) {
    h.confidence = confidence(h.distance, h.within, o.tolerance);
    h.match = h.distance <= o.tolerance;
    r.people.push_back(h);
  }
  std::sort(r.people.begin(), r.people.end(), [](auto& a, auto& b) {
    return a.distance != b.distance ? a.distance < b.distance : a.person < b.person;
  });
  if (filter) {
    // Social ranking: people whose best distances are within kNearTie of each other are a near-tie, and the
    // one who shares more friends with the searcher goes first. Groups are formed on the distance-sorted list
    // (each group spans kNearTie from its first member), so the order stays well defined.
    constexpr float kNearTie = 0.02f;
    for (size_t i = 0; i < r.people.size();) {
      size_t j = i + 1;
      while (j < r.people.size() && r.people[j].distance - r.people[i].distance <= kNearTie) ++j;
      std::stable_sort(r.people.begin() + static_cast<std::ptrdiff_t>(i), r.people.begin() + static_cast<std::ptrdiff_t>(j),
                       [](auto& a, auto& b) { return a.mutual_friends.value_or(0) > b.mutual_friends.value_or(0); });
      i = j;
    }
  }
  if (static_cast<int>(r.people.size()) > o.top) r.people.resize(static_cast<size_t>(o.top));
  auto fs = db_.prepare(
      "SELECT f.x, f.y, f.w, f.h, f.crop_path, f.cluster_id, "
      " (SELECT path FROM files WHERE files.hash = f.file_hash ORDER BY status = 'present' DESC, id LIMIT 1) "
      "FROM faces f WHERE f.id = ?");
  for (auto* n : loose) {
    if (static_cast<int>(r.faces.size()) >= o.top) break;
    FaceHit h;
    h.face = n->id;
    h.distance = n->distance;
    fs.reset();
    fs.bind(1, n->id);
    if (fs.step()) {
      h.x = static_cast<int>(fs.i64(0));
      h.y = static_cast<int>(fs.i64(1));
      h.w = static_cast<int>(fs.i64(2));
      h.h = static_cast<int>(fs.i64(3));
      if (!fs.is_null(4)) h.crop = fs.blob(4);
      h.cluster = fs.opt_i64(5);
      if (!fs.is_null(6)) h.file = fs.blob(6);
    }
    r.faces.push_back(std::move(h));
  }
  return r;
}

void one_person_per_face(std::vector<FaceResult>& faces) {
  struct Cand {
    float distance;
    size_t face, hit;
  };
  std::vector<Cand> c;
  for (size_t f = 0; f < faces.size(); ++f)
    for (size_t h = 0; h < faces[f].people.size(); ++h)
      if (faces[f].people[h].match) c.push_back({faces[f].people[h].distance, f, h});
  std::stable_sort(c.begin(), c.end(), [](const Cand& a, const Cand& b) { return a.distance < b.distance; });
  std::map<int64_t, size_t> taken;  // person -> face
  std::vector<char> decided(faces.size(), 0);
  for (auto& x : c) {
    PersonHit& h = faces[x.face].people[x.hit];
    auto t = taken.find(h.person);
    if (t != taken.end() && t->second != x.face) {
      h.match = false;  // this person is another face's in the same photo
      continue;
    }
    if (decided[x.face]) continue;
    decided[x.face] = 1;
    taken.emplace(h.person, x.face);
  }
}

const PersonHit* best_match(const FaceResult& r) {
  for (auto& h : r.people)
    if (h.match) return &h;
  return nullptr;
}

Result<TargetImage> describe_image(face::FaceAnalyzer& analyzer, const std::filesystem::path& path,
                                   const face::DetectParams& params_in, TargetMode mode, int jitter) {
  TargetImage t;
  face::DetectParams params = params_in;
  if (jitter > 1) params.keep_chips = true;
  // the descriptor of a detected face, jittered when asked
  auto descriptor_of = [&](const face::Face& f) -> Result<face::Descriptor> {
    if (jitter <= 1 || f.chip.rgb.empty() || !analyzer.encoder()) return f.descriptor;
    return face::describe_jittered(*analyzer.encoder(), f.chip, jitter);
  };
  if (mode == TargetMode::Crop) {
    auto bytes = util::read_file(path, 256u << 20);
    if (!bytes) return bytes.error();
    std::vector<uchar> buf(bytes->begin(), bytes->end());
    cv::Mat img = cv::imdecode(buf, cv::IMREAD_COLOR);
    if (img.empty()) return make_error(path.string() + ": cannot decode the image");
    const int pad = std::max(img.cols, img.rows) / 2;
    cv::Mat padded;
    cv::copyMakeBorder(img, padded, pad, pad, pad, pad, cv::BORDER_CONSTANT, cv::Scalar(0, 0, 0));
    std::vector<uchar> png;
    cv::imencode(".png", padded, png);
    face::DetectParams p = params;
    // measured on face-recognition.js (150 px crops): min_face 40 with half-size black padding identifies 97.9%
    // (leave-one-out), 50 px 94.8%, 30 px 96.9%; replicated borders or upsampling do worse
    p.min_face = std::max(20, std::max(img.cols, img.rows) * 4 / 15);
    auto r = analyzer.analyze_bytes(std::string(png.begin(), png.end()), p);
    if (r && !r->faces.empty()) {
      auto best = std::max_element(r->faces.begin(), r->faces.end(),
                                   [](auto& a, auto& b) { return a.box.width() < b.box.width(); });
      if (best->has_descriptor) {
        t.model_id = r->model_id;
        t.width = img.cols;
        t.height = img.rows;
        TargetFace tf;
        tf.box = face::Box{std::max(0, best->box.left - pad), std::max(0, best->box.top - pad),
                           std::min(img.cols, best->box.right - pad), std::min(img.rows, best->box.bottom - pad)};
        auto d = descriptor_of(*best);
        if (!d) return d.error();
        std::copy(d->begin(), d->end(), tf.descriptor.begin());
        t.faces.push_back(tf);
        return t;
      }
    }
    mode = TargetMode::Chip;
  }
  if (mode == TargetMode::Photo) {
    auto r = analyzer.analyze(path, params);
    if (!r) return r.error();
    t.model_id = r->model_id.empty() ? analyzer.model_id() : r->model_id;
    t.width = r->width;
    t.height = r->height;
    for (auto& f : r->faces) {
      if (!f.has_descriptor) continue;
      TargetFace tf;
      tf.box = f.box;
      auto d = descriptor_of(f);
      if (!d) return d.error();
      std::copy(d->begin(), d->end(), tf.descriptor.begin());
      t.faces.push_back(tf);
    }
    return t;
  }
  auto bytes = util::read_file(path, 256u << 20);
  if (!bytes) return bytes.error();
  std::vector<uchar> buf(bytes->begin(), bytes->end());
  cv::Mat img = cv::imdecode(buf, cv::IMREAD_COLOR);
  if (img.empty()) return make_error(path.string() + ": cannot decode the image");
  t.width = img.cols;
  t.height = img.rows;
  auto* enc = analyzer.encoder();
  if (!enc) return make_error("no face descriptor model loaded");
  const int cs = face::Encoder::chip_size();
  cv::Mat chip;
  cv::resize(img, chip, cv::Size(cs, cs), 0, 0, cv::INTER_AREA);
  cv::cvtColor(chip, chip, cv::COLOR_BGR2RGB);
  face::Chip c;
  c.size = cs;
  c.rgb.assign(chip.data, chip.data + static_cast<size_t>(cs) * cs * 3);
  auto d = face::describe_jittered(*enc, c, jitter);
  if (!d) return d.error();
  t.model_id = enc->model_id();
  TargetFace tf;
  tf.box = face::Box{0, 0, img.cols, img.rows};
  std::copy(d->begin(), d->end(), tf.descriptor.begin());
  t.faces.push_back(tf);
  return t;
}

nlohmann::json to_json(const PersonHit& p) {
  nlohmann::json j{{"person_id", p.person},
                   {"name", p.name ? nlohmann::json(*p.name) : nlohmann::json(nullptr)},
                   {"status", p.status},
                   {"distance", std::round(p.distance * 10000.0) / 10000.0},
                   {"within_count", p.within},
                   {"confidence", std::round(p.confidence * 1000.0) / 1000.0},
                   {"match", p.match},
                   {"best_face_id", p.best_face}};
  if (p.mutual_friends) j["mutual_friend_count"] = *p.mutual_friends;
  if (!p.sources.empty()) j["sources"] = p.sources;
  return j;
}

nlohmann::json to_json(const FaceHit& f) {
  nlohmann::json j{{"face_id", f.face},
                   {"distance", std::round(f.distance * 10000.0) / 10000.0},
                   {"box", {f.x, f.y, f.w, f.h}}};
  if (!f.file.empty()) put_path(j, f.file);
  if (!f.crop.empty()) put_path(j, f.crop, "crop");
  if (f.cluster) j["cluster_id"] = *f.cluster;
  return j;
}

}  // namespace facecat::match
