// Region decoding of JPEGs (lib/face/jpeg_region.cpp, issue 14 step 5): the pixels of a region are the ones a whole
// decode (OpenCV's, as the pipeline uses) gives, in every EXIF orientation and at DCT scalings.
#include <algorithm>
#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <sstream>
#include <unistd.h>

#include "face/descriptor.hpp"
#include "face/image.hpp"
#include "face/image_decode.hpp"
#include "face_test_util.hpp"

using namespace facecat;
namespace fs = std::filesystem;

namespace {

fs::path region_tmp() {
  const fs::path p = fs::temp_directory_path() / ("facecat-test-region-" + std::to_string(::getpid()));
  fs::create_directories(p);
  return p;
}

std::string bytes_of(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The stored pixels whose display, after EXIF orientation o, is `upright`.
cv::Mat stored_for(int o, const cv::Mat& upright) {
  cv::Mat s;
  switch (o) {
    case 2: cv::flip(upright, s, 1); break;
    case 3: cv::flip(upright, s, -1); break;
    case 4: cv::flip(upright, s, 0); break;
    case 5: cv::transpose(upright, s); break;
    case 6: cv::rotate(upright, s, cv::ROTATE_90_COUNTERCLOCKWISE); break;
    case 7: {
      cv::Mat f;
      cv::flip(upright, f, -1);
      cv::transpose(f, s);
      break;
    }
    case 8: cv::rotate(upright, s, cv::ROTATE_90_CLOCKWISE); break;
    default: s = upright.clone(); break;
  }
  return s;
}

// Largest |difference| between a patch and the whole decode over the patch, leaving out `inner` pixels at each
// side of the patch that lie inside the frame (fancy upsampling may lack its neighbour there).
int max_diff(const face::detail::Patch& p, const cv::Mat& whole, int inner) {
  const cv::Rect at(p.x0, p.y0, p.bgr.cols, p.bgr.rows);
  REQUIRE((at & cv::Rect(0, 0, whole.cols, whole.rows)) == at);
  const int l = at.x > 0 ? inner : 0, t = at.y > 0 ? inner : 0;
  const int r = at.x + at.width < whole.cols ? inner : 0, b = at.y + at.height < whole.rows ? inner : 0;
  const cv::Rect in(l, t, at.width - l - r, at.height - t - b);
  REQUIRE(in.width > 0);
  REQUIRE(in.height > 0);
  cv::Mat d;
  cv::absdiff(p.bgr(in), whole(at)(in), d);
  double mx = 0;
  cv::minMaxLoc(d.reshape(1), nullptr, &mx);
  return int(mx);
}

}  // namespace

TEST_CASE("region decode: the pixels of a whole decode, in all eight EXIF orientations and at 1/1, 1/2, 1/4", "[face]") {
  test::require_face_data();
  if (std::system("exiftool -ver >/dev/null 2>&1") != 0) test::skip("exiftool absent");
  // a group photo (three faces), written at quality 90 (libjpeg's default 4:2:0) so that chroma upsampling is exercised
  cv::Mat upright = cv::imread((test::faces_dir() / "face_recognition/_groups_unlabeled/obama_and_biden.jpg").string());
  REQUIRE_FALSE(upright.empty());
  const int W = upright.cols, H = upright.rows;
  // regions in display full-resolution pixels: inside, two overlapping ones, one over the right/bottom edge,
  // one over the top-left corner
  const std::vector<cv::Rect> rects = {{W / 3, H / 4, W / 6, H / 5},
                                       {W / 2, H / 2, W / 8, H / 8},
                                       {W / 2 + W / 16, H / 2 + H / 16, W / 8, H / 8},
                                       {W - W / 10, H - H / 9, W / 5, H / 5},
                                       {-20, -20, W / 7, H / 7}};
  for (int o = 1; o <= 8; ++o) {
    const fs::path f = region_tmp() / ("o" + std::to_string(o) + ".jpg");
    REQUIRE(cv::imwrite(f.string(), stored_for(o, upright), {cv::IMWRITE_JPEG_QUALITY, 90}));  // libjpeg's 4:2:0
    if (o != 1) {
      const std::string cmd = "exiftool -q -Orientation#=" + std::to_string(o) + " -overwrite_original '" + f.string() +
                              "' >/dev/null 2>&1";
      REQUIRE(std::system(cmd.c_str()) == 0);
    }
    const std::string bytes = bytes_of(f);
    CHECK(face::detail::jpeg_exif_orientation(bytes) == o);
    auto hdr = face::read_image_header(bytes);
    REQUIRE(hdr);
    for (int red : {1, 2, 4}) {
      INFO("orientation " << o << ", reduction 1/" << red);
      auto whole = face::detail::decode_image(bytes, *hdr, red);
      REQUIRE(whole);
      REQUIRE(whole->full_width == W);
      REQUIRE(whole->full_height == H);
      auto patches = face::detail::decode_jpeg_regions(bytes, o, red, W, H, rects);
      REQUIRE(patches);
      CHECK(patches->size() == 4);  // the two overlapping rects are one patch
      for (const auto& p : *patches) {
        CHECK(p.reduction == red);
        CHECK(max_diff(p, whole->bgr, 2) == 0);  // exactly the whole decode's pixels away from the patch's sides
        CHECK(max_diff(p, whole->bgr, 0) <= 24);  // and close at the sides
      }
      // every rect lies inside a patch
      for (const auto& r : rects) {
        const cv::Rect c = r & cv::Rect(0, 0, W, H);
        const cv::Rect s(int(std::floor(c.x * (*patches)[0].sx)), int(std::floor(c.y * (*patches)[0].sy)), 1, 1);
        CHECK(std::any_of(patches->begin(), patches->end(), [&](const face::detail::Patch& p) {
          return cv::Rect(p.x0, p.y0, p.bgr.cols, p.bgr.rows).contains(s.tl());
        }));
      }
    }
  }
  fs::remove_all(region_tmp());
}

TEST_CASE("region decode: CMYK JPEGs are refused (the pipeline then decodes the whole image)", "[face]") {
  test::require_face_data();
  if (std::system("convert -version >/dev/null 2>&1") != 0) test::skip("ImageMagick's convert absent");
  const fs::path src = test::faces_dir() / "face_recognition/obama/obama.jpg";
  const fs::path f = region_tmp() / "cmyk.jpg";
  const std::string cmd = "convert '" + src.string() + "' -colorspace CMYK '" + f.string() + "'";
  REQUIRE(std::system(cmd.c_str()) == 0);
  auto r = face::detail::decode_jpeg_regions(bytes_of(f), 1, 1, 100, 100, {{0, 0, 10, 10}});
  CHECK_FALSE(r);
  fs::remove_all(region_tmp());
}

TEST_CASE("region decode: the pipeline gives the same faces and descriptors as with whole decodes", "[face]") {
  test::require_face_data();
  // A 4000x3000 photo with upright and turned faces (0, 15, -25 and 35 degrees), one at the bottom edge. With
  // min_face 250 detection runs on a 1/4 (hog) or 1/8 (ultraface) decode and the landmark stage needs 1/2: the
  // regions, and for the turned faces the second pass for chips that reach beyond a face's region.
  cv::Mat src = cv::imread((test::faces_dir() / "face_recognition/obama/obama.jpg").string());
  REQUIRE_FALSE(src.empty());
  cv::Mat canvas(3000, 4000, CV_8UC3, cv::Scalar(90, 110, 120));
  const std::vector<std::pair<cv::Point, double>> at = {{{300, 300}, 0}, {{1700, 400}, 15}, {{2900, 1200}, -25},
                                                        {{600, 1700}, 35}, {{2000, 2300}, 0}};
  for (const auto& [p, deg] : at) {
    cv::Mat big, turned;
    cv::resize(src, big, cv::Size(), 1.3, 1.3, cv::INTER_LINEAR);
    const cv::Mat rot = cv::getRotationMatrix2D(cv::Point2f(big.cols / 2.0f, big.rows / 2.0f), deg, 1.0);
    cv::warpAffine(big, turned, rot, big.size(), cv::INTER_LINEAR, cv::BORDER_REPLICATE);
    const cv::Rect dst = cv::Rect(p.x, p.y, turned.cols, turned.rows) & cv::Rect(0, 0, canvas.cols, canvas.rows);
    turned(cv::Rect(0, 0, dst.width, dst.height)).copyTo(canvas(dst));
  }
  const fs::path f = region_tmp() / "turned.jpg";
  REQUIRE(cv::imwrite(f.string(), canvas, {cv::IMWRITE_JPEG_QUALITY, 92}));
  std::vector<std::string> detectors = {"hog"};
  if (fs::is_regular_file(test::models_dir() / "ultraface/rfb320-cut.onnx")) detectors.push_back("ultraface");
  for (const auto& det : detectors) {
    INFO("detector " << det);
    face::DetectParams p;
    p.detector = det;
    p.min_face = 250;
    p.keep_crops = true;
    auto regions = test::analyzer().analyze(f, p);
    p.region_decode = false;
    auto whole = test::analyzer().analyze(f, p);
    REQUIRE(regions);
    REQUIRE(whole);
    CHECK(regions->landmark_reduction == 2);
    REQUIRE(regions->faces.size() >= 4);  // the 35-degree face may be beyond HOG
    REQUIRE(regions->faces.size() == whole->faces.size());
    for (size_t i = 0; i < whole->faces.size(); ++i) {
      const auto &a = regions->faces[i], &b = whole->faces[i];
      INFO("face " << i << " at " << b.box.left << "," << b.box.top << " size " << b.size);
      CHECK(a.box.left == b.box.left);
      CHECK(a.box.top == b.box.top);
      CHECK(a.box.right == b.box.right);
      CHECK(a.landmarks.size() == b.landmarks.size());
      for (size_t k = 0; k < std::min(a.landmarks.size(), b.landmarks.size()); ++k) {
        CHECK(std::abs(a.landmarks[k].x - b.landmarks[k].x) < 1e-3f);
        CHECK(std::abs(a.landmarks[k].y - b.landmarks[k].y) < 1e-3f);
      }
      CHECK(face::descriptor_distance(a.descriptor, b.descriptor) < 1e-6f);
      CHECK(a.blur == b.blur);
      CHECK(a.crop_jpeg == b.crop_jpeg);
    }
  }
  fs::remove_all(region_tmp());
}
