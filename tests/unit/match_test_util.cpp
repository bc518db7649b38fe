#include "match_test_util.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>

#include "match/match.hpp"
#include "util/atomic_file.hpp"
#include "util/hash.hpp"
#include "util/text.hpp"

namespace facecat::test {

namespace fs = std::filesystem;

fs::path testdata_dir() {
  if (const char* e = std::getenv("FACECAT_TESTDATA")) return e;
  return FACECAT_TESTDATA;
}
fs::path models_path() {
  if (const char* e = std::getenv("FACECAT_MODELS_DIR")) return e;
  return FACECAT_MODELS;
}

void skip_test(const std::string& why) {
  std::fprintf(stderr, "SKIPPED: %s\n", why.c_str());
  std::fflush(stderr);
  std::exit(4);
}

void require_faces() {
  if (!fs::is_directory(testdata_dir() / "faces")) skip_test("test photos absent: " + (testdata_dir() / "faces").string());
  if (!fs::is_regular_file(face::faceapi_bin_path(models_path())))
    skip_test("face-api weights absent in " + models_path().string() + " (run scripts/setup)");
  if (!fs::is_regular_file("/usr/share/dlib/shape_predictor_68_face_landmarks.dat"))
    skip_test("shape predictor absent (libdlib-data)");
}

face::FaceAnalyzer& shared_analyzer() {
  static std::unique_ptr<face::FaceAnalyzer> a = [] {
    require_faces();
    face::AnalyzerConfig cfg;
    cfg.model.models_dir = models_path();
    auto r = face::FaceAnalyzer::create(cfg);
    if (!r) FAIL(r.error().message);
    return std::make_unique<face::FaceAnalyzer>(std::move(*r));
  }();
  return *a;
}

std::string model_id() { return shared_analyzer().model_id(); }

namespace {

struct SetSpec {
  const char* set;
  const char* dir;
  match::TargetMode mode;
};
// face-recognition.js crops are not aligned chips: described whole they identify 86.5% (leave-one-out top-1);
// padded and detected (TargetMode::Crop) they are aligned like every other face.
using M = match::TargetMode;
const SetSpec kSets[] = {{"face-api.js", "face-api.js", M::Chip},
                         {"face-recognition.js", "face-recognition.js", M::Crop},
                         {"dlib", "dlib", M::Chip},
                         {"deepface", "deepface", M::Photo},
                         {"face_recognition", "face_recognition", M::Photo}};

std::vector<LabeledFace> describe_all() {
  auto& an = shared_analyzer();
  std::vector<LabeledFace> out;
  face::DetectParams dp;
  auto root = testdata_dir() / "faces";
  for (auto& s : kSets) {
    std::vector<std::pair<std::string, fs::path>> files;
    for (auto& d : fs::directory_iterator(root / s.dir)) {
      if (!d.is_directory() || d.path().filename().string()[0] == '_') continue;
      for (auto& f : fs::directory_iterator(d.path()))
        if (f.is_regular_file()) {
          auto e = util::to_lower(f.path().extension().string());
          if (e == ".jpg" || e == ".jpeg" || e == ".png") files.emplace_back(d.path().filename().string(), f.path());
        }
    }
    std::sort(files.begin(), files.end());
    for (auto& [label, p] : files) {
      auto t = match::describe_image(an, p, dp, s.mode);
      if (!t || t->faces.empty()) continue;  // a photo without a detectable face: not part of the set
      // photos: the largest face is the labelled one
      auto best = std::max_element(t->faces.begin(), t->faces.end(),
                                   [](auto& a, auto& b) { return a.box.width() < b.box.width(); });
      out.push_back({s.set, label, p.string(), best->box, best->descriptor});
    }
  }
  // bald_guys.jpg: one collage, faces unlabelled
  auto bald = root / "dlib" / "_groups_unlabeled" / "bald_guys.jpg";
  if (fs::exists(bald)) {
    auto t = match::describe_image(an, bald, dp, false);
    if (t)
      for (auto& f : t->faces) out.push_back({"bald_guys", "bald_guys", bald.string(), f.box, f.descriptor});
  }
  return out;
}

fs::path cache_file() {
  auto key = util::xxh3_128_hex(fs::absolute(testdata_dir()).string() + "|" + model_id() + "|v3");
  return fs::temp_directory_path() / ("facecat-test-faces-" + std::to_string(::getuid())) / (key + ".tsv");
}

}  // namespace

const std::vector<LabeledFace>& labeled_faces() {
  static std::vector<LabeledFace> faces = [] {
    require_faces();
    auto cf = cache_file();
    std::vector<LabeledFace> v;
    std::ifstream in(cf);
    std::string line;
    while (std::getline(in, line)) {
      auto f = util::split(line, '\t', false);
      if (f.size() != 8) {
        v.clear();
        break;
      }
      LabeledFace lf{f[0], f[1], f[2], {}, {}};
      lf.box = face::Box{std::stoi(f[3]), std::stoi(f[4]), std::stoi(f[5]), std::stoi(f[6])};
      auto bytes = util::base64_decode(f[7]);
      auto d = bytes ? search::decode_descriptor(*bytes) : Result<search::Descriptor>(make_error("bad"));
      if (!d) {
        v.clear();
        break;
      }
      lf.d = *d;
      v.push_back(std::move(lf));
    }
    if (!v.empty() && fs::exists(v.front().path)) return v;
    v = describe_all();
    std::string text;
    for (auto& f : v)
      text += f.set + "\t" + f.label + "\t" + f.path + "\t" + std::to_string(f.box.left) + "\t" + std::to_string(f.box.top) +
              "\t" + std::to_string(f.box.right) + "\t" + std::to_string(f.box.bottom) + "\t" +
              util::base64_encode(search::encode_descriptor(f.d.data())) + "\n";
    std::error_code ec;
    fs::create_directories(cf.parent_path(), ec);
    (void)util::write_file_atomic(cf, text);
    return v;
  }();
  return faces;
}

std::vector<LabeledFace> faces_of_set(const std::string& set) {
  std::vector<LabeledFace> out;
  for (auto& f : labeled_faces())
    if (f.set == set) out.push_back(f);
  return out;
}

TempDir::TempDir() {
  p = fs::temp_directory_path() / ("facecat-match-test-" + std::to_string(::getpid()) + "-" +
                                   std::to_string(std::random_device{}()));
  fs::create_directories(p);
}
TempDir::~TempDir() {
  std::error_code ec;
  if (!std::getenv("FACECAT_KEEP_TMP")) fs::remove_all(p, ec);
}

catalog::Catalog open_write(const fs::path& p) {
  catalog::OpenOptions o;
  o.mode = catalog::Mode::Write;
  auto c = catalog::Catalog::open(p, o);
  if (!c) FAIL(c.error().message);
  return std::move(*c);
}

std::vector<int64_t> write_catalog(catalog::Catalog& cat, const std::vector<LabeledFace>& faces) {
  auto& db = cat.db();
  catalog::Transaction tx(db);
  const int64_t now = util::now_unix();
  std::vector<int64_t> ids;
  std::map<std::string, int> per_file;
  auto file = db.prepare(
      "INSERT OR IGNORE INTO files(path, size, mtime_ns, inode, hash, kind, first_seen, last_seen, changed_at) "
      "VALUES (?, 0, 0, 0, ?, 'image', ?, ?, ?)");
  auto det = db.prepare(
      "INSERT INTO detections(file_hash, pipeline_version, model_id, n_faces, processed_at) VALUES (?, 'test', ?, 1, ?) "
      "ON CONFLICT DO UPDATE SET n_faces = n_faces + 1");
  auto face = db.prepare(
      "INSERT INTO faces(file_hash, pipeline_version, face_index, model_id, x, y, w, h, descriptor, crop_path, "
      "created_at) VALUES (?, 'test', ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  for (auto& f : faces) {
    std::string hash = util::xxh3_128_hex(f.path);
    file.reset();
    file.bind_blob(1, f.path).bind(2, hash).bind(3, now).bind(4, now).bind(5, now).run();
    det.reset();
    det.bind_all(hash, model_id(), now).run();
    int idx = per_file[f.path]++;
    face.reset();
    face.bind(1, hash).bind(2, idx).bind(3, model_id()).bind(4, f.box.left).bind(5, f.box.top).bind(6, f.box.width())
        .bind(7, f.box.height());
    face.bind_blob(8, search::encode_descriptor(f.d.data()));
    // crops: the chips are crops already; for photos there is none (the report cuts one from the file)
    if (f.box.left == 0 && f.box.top == 0) face.bind_blob(9, f.path);
    else face.bind(9, nullptr);
    face.bind(10, now).run();
    ids.push_back(db.last_insert_id());
  }
  tx.commit();
  return ids;
}

}  // namespace facecat::test
