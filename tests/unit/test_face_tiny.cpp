// The tiny face detector (face-api's TinyFaceDetector in OpenCV DNN) and the "tiny+hog" detector built on it.
#include <cmath>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "face/descriptor.hpp"
#include "face/tiny_detector.hpp"
#include "face_test_util.hpp"

using namespace facecat;
namespace fs = std::filesystem;

namespace {

void require_tiny_weights() {
  test::require_face_data();
  if (!fs::is_regular_file(face::detail::tiny_detector_bin_path(test::models_dir())))
    test::skip("tiny face detector weights absent in " + test::models_dir().string() + " (run scripts/setup)");
}

face::detail::TinyDetector load_tiny() {
  auto t = face::detail::TinyDetector::load(face::detail::tiny_detector_manifest_path(test::models_dir()),
                                            face::detail::tiny_detector_bin_path(test::models_dir()));
  if (!t) FAIL(t.error().message);
  return std::move(*t);
}

face::ImageFaces analyze_with(const fs::path& p, const std::string& detector, face::DetectParams params = {}) {
  params.detector = detector;
  auto r = test::analyzer().analyze(p, params);
  if (!r) FAIL(r.error().message);
  return *r;
}

}  // namespace

TEST_CASE("tiny face detector: the same detections as face-api.js on the same pixels", "[face]") {
  require_tiny_weights();
  auto tiny = load_tiny();
  // obama_and_biden.jpg resized to 416×416 with cv::INTER_AREA; the same RGB bytes through face-api.js 1.7.15
  // (tfjs CPU backend, TinyFaceDetector.locateFaces, inputSize 416, scoreThreshold 0.3) gave these boxes
  // (score, x, y, width, height); its raw output differed from ours by at most 9e-5 (bench/README.md).
  cv::Mat img = cv::imread((test::faces_dir() / "face_recognition/_groups_unlabeled/obama_and_biden.jpg").string()), r;
  REQUIRE_FALSE(img.empty());
  cv::resize(img, r, cv::Size(416, 416), 0, 0, cv::INTER_AREA);
  const float ref[4][5] = {{0.7954f, 145.2f, 132.6f, 59.8f, 61.6f},
                           {0.7152f, 220.2f, 109.6f, 68.8f, 68.9f},
                           {0.4992f, 333.2f, 312.4f, 49.5f, 50.8f},
                           {0.3476f, 188.0f, 117.0f, 67.6f, 64.8f}};
  auto d = tiny.detect(r, 0.3f);
  REQUIRE(d);
  REQUIRE(d->size() == 4);
  for (size_t i = 0; i < 4; ++i) {
    const auto& x = (*d)[i];
    CHECK(std::abs(x.score - ref[i][0]) < 0.002f);
    CHECK(std::abs(x.left - ref[i][1]) < 0.3f);
    CHECK(std::abs(x.top - ref[i][2]) < 0.3f);
    CHECK(std::abs((x.right - x.left) - ref[i][3]) < 0.3f);
    CHECK(std::abs((x.bottom - x.top) - ref[i][4]) < 0.3f);
  }
  // any size works (padded to a multiple of 32); a copy is an independent network with the same results
  auto copy = tiny;
  cv::Mat odd;
  cv::resize(img, odd, cv::Size(333, 250), 0, 0, cv::INTER_AREA);
  auto a = tiny.detect(odd, 0.3f), b = copy.detect(odd, 0.3f);
  REQUIRE(a);
  REQUIRE(b);
  REQUIRE(a->size() == b->size());
  CHECK_FALSE(a->empty());
}

TEST_CASE("tiny+hog finds the faces hog finds, with hog's boxes", "[face]") {
  require_tiny_weights();
  for (const char* rel : {"face_recognition/_groups_unlabeled/obama_and_biden.jpg",
                          "face_recognition/_groups_unlabeled/two_people.jpg", "face_recognition/obama/obama.jpg",
                          "face_recognition/biden/biden.jpg", "face_recognition/_groups_unlabeled/kit_with_rose.jpg"}) {
    INFO(rel);
    face::DetectParams p;
    auto hog = analyze_with(test::faces_dir() / rel, "hog", p);
    auto tiny = analyze_with(test::faces_dir() / rel, "tiny+hog", p);
    CHECK(tiny.proposals >= int(tiny.faces.size()));
    // Every hog face at least min_face is found: the same centre, and a box of the same size or one pyramid step
    // (5/6) off, since HOG on a crop can settle on the neighbouring level; descriptors stay close.
    int want = 0;
    for (const auto& h : hog.faces) {
      if (h.size < hog.min_face) continue;
      ++want;
      const face::Face* hit = nullptr;
      for (const auto& t : tiny.faces)
        if (std::abs((t.box.left + t.box.right) - (h.box.left + h.box.right)) / 2.0 <= 0.15 * h.size &&
            std::abs((t.box.top + t.box.bottom) - (h.box.top + h.box.bottom)) / 2.0 <= 0.15 * h.size)
          hit = &t;
      REQUIRE(hit);
      const double ratio = double(hit->size) / h.size;
      INFO("hog box " << h.box.left << "," << h.box.top << " size " << h.size << ", tiny+hog size " << hit->size);
      CHECK(ratio > 0.8);
      CHECK(ratio < 1.25);
      const float dist = face::descriptor_distance(hit->descriptor, h.descriptor);
      WARN(rel << ": size " << h.size << " vs " << hit->size << ", descriptor distance " << dist);
      CHECK(dist < 0.25f);
    }
    CHECK(int(tiny.faces.size()) <= int(hog.faces.size()));
    CHECK(int(tiny.faces.size()) >= want);
  }
}
