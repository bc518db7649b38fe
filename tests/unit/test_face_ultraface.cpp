// UltraFace RFB-320 (the cut model in OpenCV DNN, decoded in lib/face/ultraface.cpp) and the "ultraface" detector.
#include <cmath>
#include <fstream>
#include <map>
#include <opencv2/dnn.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <optional>
#include <sstream>

#include "face/descriptor.hpp"
#include "face/ultraface.hpp"
#include "face_test_util.hpp"

using namespace facecat;
namespace fs = std::filesystem;

namespace {

void require_ultraface() {
  test::require_face_data();
  if (!fs::is_regular_file(face::detail::ultraface_model_path(test::models_dir())))
    test::skip("UltraFace model absent in " + test::models_dir().string() + " (run scripts/setup)");
}

face::detail::UltraFace load_uf() {
  auto u = face::detail::UltraFace::load(face::detail::ultraface_model_path(test::models_dir()));
  if (!u) FAIL(u.error().message);
  return std::move(*u);
}

face::ImageFaces analyze_with(const fs::path& p, const std::string& detector, face::DetectParams params = {}) {
  params.detector = detector;
  auto r = test::analyzer().analyze(p, params);
  if (!r) FAIL(r.error().message);
  return *r;
}

}  // namespace

TEST_CASE("ultraface: the cut model and our decoding give the shipped model's boxes at 320x240", "[face]") {
  require_ultraface();
  const auto shipped = face::detail::ultraface_shipped_path(test::models_dir());
  if (!fs::is_regular_file(shipped)) test::skip("shipped UltraFace model absent: " + shipped.string());
  cv::Mat img = cv::imread((test::faces_dir() / "face_recognition/_groups_unlabeled/obama_and_biden.jpg").string()), r;
  REQUIRE_FALSE(img.empty());
  cv::resize(img, r, cv::Size(320, 240), 0, 0, cv::INTER_AREA);
  auto net = cv::dnn::readNetFromONNX(shipped.string());
  net.setInput(cv::dnn::blobFromImage(r, 1.0 / 128, cv::Size(), cv::Scalar(127, 127, 127), true, false, CV_32F));
  std::vector<cv::Mat> outs;
  net.forward(outs, std::vector<std::string>{"scores", "boxes"});
  auto uf = load_uf();
  auto mine = uf.detect_raw(r, -1.0f);  // every prior, in order
  REQUIRE(mine);
  REQUIRE(int(mine->size()) == outs[0].size[1]);
  double worst_box = 0, worst_score = 0;
  for (size_t i = 0; i < mine->size(); ++i) {
    const float* b = outs[1].ptr<float>() + i * 4;
    const auto& m = (*mine)[i];
    worst_box = std::max({worst_box, double(std::abs(b[0] * 320 - m.left)), double(std::abs(b[1] * 240 - m.top)),
                          double(std::abs(b[2] * 320 - m.right)), double(std::abs(b[3] * 240 - m.bottom))});
    worst_score = std::max(worst_score, double(std::abs(outs[0].ptr<float>()[i * 2 + 1] - m.score)));
  }
  WARN("max |box difference| " << worst_box << " px, max |score difference| " << worst_score);
  CHECK(worst_box < 0.01);
  CHECK(worst_score < 1e-5);
}

TEST_CASE("ultraface: decoded boxes on one photo are pinned", "[face]") {
  require_ultraface();
  // obama_and_biden.jpg at its own size (padded to 2048x1472), one forward pass, score > 0.7, NMS 0.3
  cv::Mat img = cv::imread((test::faces_dir() / "face_recognition/_groups_unlabeled/obama_and_biden.jpg").string());
  REQUIRE_FALSE(img.empty());
  auto uf = load_uf();
  auto d = uf.detect(img, 0.7f);
  REQUIRE(d);
  std::ostringstream got;
  for (const auto& x : *d) got << x.left << " " << x.top << " " << x.right << " " << x.bottom << " " << x.score << "\n";
  WARN(img.cols << "x" << img.rows << ":\n" << got.str());
  struct Pin { float l, t, r, b, s; };
  const std::vector<Pin> want = {{1137.13f, 363.896f, 1326.51f, 620.157f, 1.0f},
                                 {752.803f, 385.479f, 941.119f, 669.801f, 1.0f},
                                 {1636.44f, 1070.14f, 1770.99f, 1235.0f, 0.999853f},
                                 {175.071f, 162.932f, 296.637f, 337.171f, 0.99015f},
                                 {1776.12f, 174.828f, 1907.35f, 374.298f, 0.953417f},
                                 {1789.98f, 1098.61f, 1820.76f, 1162.5f, 0.895271f},
                                 {327.077f, 776.271f, 521.559f, 1046.92f, 0.892368f},
                                 {1811.98f, 1202.17f, 1974.47f, 1376.89f, 0.859295f}};
  REQUIRE(d->size() == want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    INFO("box " << i);
    CHECK(std::abs((*d)[i].left - want[i].l) < 0.5f);
    CHECK(std::abs((*d)[i].top - want[i].t) < 0.5f);
    CHECK(std::abs((*d)[i].right - want[i].r) < 0.5f);
    CHECK(std::abs((*d)[i].bottom - want[i].b) < 0.5f);
    CHECK(std::abs((*d)[i].score - want[i].s) < 1e-3f);
  }
  // a copy is an independent network with the same results
  auto copy = uf;
  auto e = copy.detect(img, 0.7f);
  REQUIRE(e);
  CHECK(e->size() == d->size());
}

TEST_CASE("ultraface finds the faces hog finds, with hog's boxes", "[face]") {
  require_ultraface();
  for (const char* rel : {"face_recognition/_groups_unlabeled/obama_and_biden.jpg",
                          "face_recognition/_groups_unlabeled/two_people.jpg", "face_recognition/obama/obama.jpg",
                          "face_recognition/biden/biden.jpg", "face_recognition/_groups_unlabeled/kit_with_rose.jpg"}) {
    INFO(rel);
    auto hog = analyze_with(test::faces_dir() / rel, "hog");
    auto uf = analyze_with(test::faces_dir() / rel, "ultraface");
    CHECK(uf.proposals >= int(uf.faces.size()) - uf.unconfirmed);
    int want = 0;
    for (const auto& h : hog.faces) {
      if (h.size < hog.min_face) continue;
      ++want;
      const face::Face* hit = nullptr;
      for (const auto& t : uf.faces)
        if (std::abs((t.box.left + t.box.right) - (h.box.left + h.box.right)) / 2.0 <= 0.15 * h.size &&
            std::abs((t.box.top + t.box.bottom) - (h.box.top + h.box.bottom)) / 2.0 <= 0.15 * h.size)
          hit = &t;
      REQUIRE(hit);
      CHECK(hit->hog_box);
      const double ratio = double(hit->size) / h.size;
      INFO("hog box " << h.box.left << "," << h.box.top << " size " << h.size << ", ultraface size " << hit->size);
      CHECK(ratio > 0.8);
      CHECK(ratio < 1.25);
      const float dist = face::descriptor_distance(hit->descriptor, h.descriptor);
      WARN(rel << ": size " << h.size << " vs " << hit->size << ", descriptor distance " << dist);
      CHECK(dist < 0.25f);
    }
    CHECK(int(uf.faces.size()) >= want);
  }
}

TEST_CASE("lfw-dev pairs: ultraface's accuracy at 0.6 is no lower than hog's", "[face][slow]") {
  require_ultraface();
  const fs::path dir = test::faces_dir() / "lfw-dev";
  std::ifstream in(dir / "pairs.txt");
  if (!in) test::skip("lfw-dev/pairs.txt absent");
  struct Pair { std::string a, b; bool same; };
  std::vector<Pair> pairs;
  auto img = [&](const std::string& name, const std::string& n) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%04d", std::atoi(n.c_str()));
    return name + "/" + name + "_" + buf + ".jpg";
  };
  for (std::string line; std::getline(in, line);) {
    std::istringstream ss(line);
    std::vector<std::string> w;
    for (std::string x; ss >> x;) w.push_back(x);
    if (w.size() == 3) pairs.push_back({img(w[0], w[1]), img(w[0], w[2]), true});
    else if (w.size() == 4) pairs.push_back({img(w[0], w[1]), img(w[2], w[3]), false});
  }
  REQUIRE(pairs.size() > 1000);
  std::map<std::string, double> acc;
  for (const std::string detector : {"hog", "ultraface"}) {
    std::map<std::string, std::optional<face::Descriptor>> cache;
    int no_face = 0;
    auto desc = [&](const std::string& rel) -> std::optional<face::Descriptor> {
      auto it = cache.find(rel);
      if (it != cache.end()) return it->second;
      face::DetectParams p;  // the defaults: 250x250 images, min_face 80
      p.detector = detector;
      auto r = test::analyzer().analyze(dir / rel, p);
      std::optional<face::Descriptor> d;
      if (r) {  // the labelled face is the one nearest the centre (LABELS.md)
        double best = 1e18;
        for (const auto& f : r->faces) {
          const double dx = (f.box.left + f.box.right) / 2.0 - r->width / 2.0,
                       dy = (f.box.top + f.box.bottom) / 2.0 - r->height / 2.0;
          if (f.has_descriptor && dx * dx + dy * dy < best) {
            best = dx * dx + dy * dy;
            d = f.descriptor;
          }
        }
      }
      if (!d) ++no_face;
      cache[rel] = d;
      return d;
    };
    int right = 0;
    for (const auto& pr : pairs) {
      auto da = desc(pr.a), db = desc(pr.b);
      const bool pred = da && db && face::descriptor_distance(*da, *db) < 0.6f;  // no face: "different"
      right += pred == pr.same;
    }
    acc[detector] = double(right) / double(pairs.size());
    WARN("lfw-dev pairs, " << detector << ": " << right << "/" << pairs.size() << " = " << acc[detector] * 100
                           << "%, no face in " << no_face << " of " << cache.size() << " images");
  }
  CHECK(acc["ultraface"] >= acc["hog"]);
}

TEST_CASE("ultraface gives one box per face in a crowded group photo (no box centred inside another)", "[face]") {
  require_ultraface();
  // bald_guys.jpg: 24 faces side by side. HOG's confirmation on crops, with its lower threshold for faces the CNN
  // is sure of, once let a second, smaller box of two faces through (hog_detector.cpp, confirm_with_hog).
  const auto rel = "dlib/_groups_unlabeled/bald_guys.jpg";
  auto hog = analyze_with(test::faces_dir() / rel, "hog");
  auto uf = analyze_with(test::faces_dir() / rel, "ultraface");
  for (size_t i = 0; i < uf.faces.size(); ++i)
    for (size_t j = 0; j < uf.faces.size(); ++j) {
      if (i == j) continue;
      const auto &a = uf.faces[i].box, &b = uf.faces[j].box;
      const double cx = (a.left + a.right) / 2.0, cy = (a.top + a.bottom) / 2.0;
      INFO("face " << a.left << "," << a.top << " size " << a.width() << " inside " << b.left << "," << b.top
                   << " size " << b.width());
      CHECK_FALSE((cx > b.left && cx < b.right && cy > b.top && cy < b.bottom));
    }
  CHECK(uf.faces.size() == hog.faces.size());
}
