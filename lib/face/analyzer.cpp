#include "face/analyzer.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <dlib/image_processing.h>
#include <dlib/image_processing/frontal_face_detector.h>
#include <dlib/image_transforms.h>
#include <dlib/opencv/cv_image.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <optional>
#include <spdlog/spdlog.h>

#include "face/image_decode.hpp"
#include "util/atomic_file.hpp"

namespace facecat::face {
namespace {
namespace fs = std::filesystem;
using clk = std::chrono::steady_clock;
double ms_since(clk::time_point t) { return std::chrono::duration<double, std::milli>(clk::now() - t).count(); }

constexpr double kHogWindow = 80.0;    // dlib's frontal detector finds faces of ~80 px and larger
constexpr double kChipFacePx = 100.0;  // a face of this size fills a 150 px chip (padding 0.25) without upsampling

struct DRect { double l, t, r, b; };

}  // namespace

struct FaceAnalyzer::Impl {
  dlib::frontal_face_detector det;
  // shape_predictor::operator() is const and keeps no state: one 100 MB copy shared by all threads.
  std::shared_ptr<const dlib::shape_predictor> sp;
  std::optional<Encoder> enc;
};

FaceAnalyzer::FaceAnalyzer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
FaceAnalyzer::FaceAnalyzer(const FaceAnalyzer& o) : impl_(std::make_unique<Impl>(*o.impl_)) {}
FaceAnalyzer& FaceAnalyzer::operator=(const FaceAnalyzer& o) {
  if (this != &o) impl_ = std::make_unique<Impl>(*o.impl_);
  return *this;
}
FaceAnalyzer::FaceAnalyzer(FaceAnalyzer&&) noexcept = default;
FaceAnalyzer& FaceAnalyzer::operator=(FaceAnalyzer&&) noexcept = default;
FaceAnalyzer::~FaceAnalyzer() = default;

std::string FaceAnalyzer::model_id() const { return impl_->enc ? impl_->enc->model_id() : std::string(); }
Encoder* FaceAnalyzer::encoder() { return impl_->enc ? &*impl_->enc : nullptr; }

Result<FaceAnalyzer> FaceAnalyzer::create(const AnalyzerConfig& cfg) {
  auto impl = std::make_unique<Impl>();
  std::error_code ec;
  if (!fs::is_regular_file(cfg.shape_predictor, ec))
    return make_error("shape predictor not found: " + cfg.shape_predictor.string() +
                      " (Debian: apt-get install libdlib-data)");
  try {
    auto sp = std::make_shared<dlib::shape_predictor>();
    dlib::deserialize(cfg.shape_predictor.string()) >> *sp;
    if (sp->num_parts() != 68)
      return make_error("shape predictor " + cfg.shape_predictor.string() + " has " +
                        std::to_string(sp->num_parts()) + " points, not 68");
    impl->sp = std::move(sp);
  } catch (const std::exception& e) {
    return make_error("cannot load shape predictor " + cfg.shape_predictor.string() + ": " + e.what());
  }
  impl->det = dlib::get_frontal_face_detector();
  if (cfg.load_encoder) {
    auto enc = load_encoder(cfg.model);
    if (!enc) return enc.error();
    impl->enc.emplace(std::move(*enc));
  }
  return FaceAnalyzer(std::move(impl));
}

Result<ImageFaces> FaceAnalyzer::analyze(const fs::path& image, const DetectParams& p) {
  auto bytes = util::read_file(image, size_t(2) << 30);
  if (!bytes) return make_error("cannot read " + image.string() + ": " + bytes.error().message);
  auto r = analyze_bytes(*bytes, p);
  if (!r) return make_error(image.string() + ": " + r.error().message);
  return r;
}

Result<ImageFaces> FaceAnalyzer::analyze_bytes(const std::string& bytes, const DetectParams& p) {
  auto t0 = clk::now();
  auto hdr = check_image_header(bytes, p.max_pixels);
  if (!hdr) return hdr.error();
  ImageFaces out;
  out.format = hdr->format;
  const int min_face = std::max(1, p.min_face);
  const double s_det = kHogWindow / min_face * std::pow(2.0, std::clamp(p.upsample, 0, 3));  // scan scale vs full res

  int red = 1;
  if (p.reduced_decode && hdr->format == "jpeg")
    for (int c : {8, 4, 2})
      if (s_det * c <= 1.0 + 1e-9) {
        red = c;
        break;
      }
  auto dec = detail::decode_image(bytes, *hdr, red);
  if (!dec) return dec.error();
  out.width = dec->full_width;
  out.height = dec->full_height;
  out.detect_reduction = red = dec->reduction;
  out.decode_ms = ms_since(t0);

  // --- detection ------------------------------------------------------------------------------------------------
  auto t1 = clk::now();
  const cv::Mat& D = dec->bgr;
  const double fx = double(out.width) / D.cols, fy = double(out.height) / D.rows;  // decoded -> full
  const double s_rel = s_det * fx;  // scan scale relative to the decoded image
  std::vector<std::pair<DRect, double>> found;  // full-res boxes + scores
  const int scan_w = int(std::lround(D.cols * s_rel)), scan_h = int(std::lround(D.rows * s_rel));
  if (scan_w >= 40 && scan_h >= 40) {
    std::vector<dlib::rect_detection> dets;
    const double l2 = std::log2(s_rel);
    if (std::abs(s_rel - 1.0) < 1e-6) {
      dlib::cv_image<dlib::bgr_pixel> img(D);
      impl_->det(img, dets, p.adjust_threshold);
      for (auto& d : dets)
        found.push_back({{d.rect.left() * fx, d.rect.top() * fy, (d.rect.right() + 1) * fx, (d.rect.bottom() + 1) * fy},
                         d.detection_confidence});
    } else if (s_rel > 1 && std::abs(l2 - std::round(l2)) < 1e-6) {
      // Exactly 2^k: dlib's pyramid_up, as face_recognition does, so boxes match it to the pixel.
      dlib::matrix<dlib::rgb_pixel> img;
      dlib::assign_image(img, dlib::cv_image<dlib::bgr_pixel>(D));
      dlib::pyramid_down<2> pyr;
      const int k = int(std::lround(l2));
      for (int i = 0; i < k; ++i) dlib::pyramid_up(img, pyr);
      impl_->det(img, dets, p.adjust_threshold);
      for (auto& d : dets) {
        auto rr = pyr.rect_down(d.rect, unsigned(k));
        found.push_back({{rr.left() * fx, rr.top() * fy, (rr.right() + 1) * fx, (rr.bottom() + 1) * fy},
                         d.detection_confidence});
      }
    } else {
      cv::Mat S;
      cv::resize(D, S, cv::Size(scan_w, scan_h), 0, 0, s_rel < 1 ? cv::INTER_AREA : cv::INTER_LINEAR);
      dlib::cv_image<dlib::bgr_pixel> img(S);
      impl_->det(img, dets, p.adjust_threshold);
      const double kx = double(out.width) / S.cols, ky = double(out.height) / S.rows;
      for (auto& d : dets)
        found.push_back({{d.rect.left() * kx, d.rect.top() * ky, (d.rect.right() + 1) * kx, (d.rect.bottom() + 1) * ky},
                         d.detection_confidence});
    }
  }
  out.detect_ms = ms_since(t1);
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) {
    return a.first.t != b.first.t ? a.first.t < b.first.t : a.first.l < b.first.l;
  });
  for (auto& [r, s] : found) {
    Face f;
    f.box = {int(std::lround(r.l)), int(std::lround(r.t)), int(std::lround(r.r)), int(std::lround(r.b))};
    f.score = s;
    f.size = std::max(f.box.width(), f.box.height());
    out.faces.push_back(std::move(f));
  }
  const bool want_pixels = p.landmarks || p.keep_crops;
  if (out.faces.empty() || !want_pixels) return out;

  // --- landmarks, chips, crops: from a decode fine enough for the smallest face ----------------------------------
  auto t2 = clk::now();
  int lred = red;
  int smallest = out.faces.front().size;
  for (auto& f : out.faces) smallest = std::min(smallest, f.size);
  while (lred > 1 && smallest / double(lred) < kChipFacePx) lred /= 2;
  std::optional<detail::Decoded> dec2;
  if (lred != red) {
    auto d2 = detail::decode_image(bytes, *hdr, lred);
    if (!d2) return d2.error();
    dec2.emplace(std::move(*d2));
    lred = dec2->reduction;
  }
  const cv::Mat& L = dec2 ? dec2->bgr : D;
  out.landmark_reduction = lred;
  const double lx = double(L.cols) / out.width, ly = double(L.rows) / out.height;  // full -> L
  dlib::cv_image<dlib::bgr_pixel> limg(L);
  std::vector<Chip> chips;
  for (auto& f : out.faces) {
    if (p.keep_crops) {
      const double m = p.crop_margin * f.size;
      cv::Rect cr(int(std::floor((f.box.left - m) * lx)), int(std::floor((f.box.top - m) * ly)), 0, 0);
      cr.width = int(std::ceil((f.box.right + m) * lx)) - cr.x;
      cr.height = int(std::ceil((f.box.bottom + m) * ly)) - cr.y;
      cr &= cv::Rect(0, 0, L.cols, L.rows);
      if (cr.width > 0 && cr.height > 0) {
        cv::Mat c = L(cr);
        cv::Mat small;
        const int side = std::max(cr.width, cr.height);
        if (p.crop_max_side > 0 && side > p.crop_max_side) {
          const double k = double(p.crop_max_side) / side;
          cv::resize(c, small, cv::Size(), k, k, cv::INTER_AREA);
          c = small;
        }
        std::vector<uint8_t> buf;
        if (cv::imencode(".jpg", c, buf, {cv::IMWRITE_JPEG_QUALITY, 92}))
          f.crop_jpeg.assign(reinterpret_cast<const char*>(buf.data()), buf.size());
      }
    }
    if (!p.landmarks) continue;
    dlib::rectangle rr(long(std::lround(f.box.left * lx)), long(std::lround(f.box.top * ly)),
                       long(std::lround(f.box.right * lx)) - 1, long(std::lround(f.box.bottom * ly)) - 1);
    dlib::full_object_detection sh = (*impl_->sp)(limg, rr);
    f.landmarks.reserve(sh.num_parts());
    for (unsigned long i = 0; i < sh.num_parts(); ++i)
      f.landmarks.push_back({float(sh.part(i).x() / lx), float(sh.part(i).y() / ly)});
    // frontalness: the nose tip between the jaw sides, measured along the eye axis (roll-invariant)
    {
      auto P = [&](int i) { return f.landmarks[size_t(i)]; };
      float ux = P(45).x - P(36).x, uy = P(45).y - P(36).y;
      const float n = std::hypot(ux, uy);
      if (n > 0) {
        ux /= n;
        uy /= n;
        const float a = (P(30).x - P(0).x) * ux + (P(30).y - P(0).y) * uy;
        const float b = (P(16).x - P(30).x) * ux + (P(16).y - P(30).y) * uy;
        const float hi = std::max(a, b), lo = std::min(a, b);
        f.frontalness = hi > 0 ? std::clamp(lo / hi, 0.0f, 1.0f) : 0.0f;
      }
    }
    dlib::matrix<dlib::rgb_pixel> chip;
    dlib::extract_image_chip(limg, dlib::get_face_chip_details(sh, unsigned(p.chip_size), p.chip_padding), chip);
    Chip c;
    c.size = int(chip.nr());
    c.rgb.resize(size_t(chip.nr() * chip.nc() * 3));
    std::memcpy(c.rgb.data(), &chip(0, 0), c.rgb.size());
    {
      cv::Mat rgb(c.size, c.size, CV_8UC3, c.rgb.data()), gray, lap;
      cv::cvtColor(rgb, gray, cv::COLOR_RGB2GRAY);
      cv::Laplacian(gray, lap, CV_64F);
      cv::Scalar mu, sd;
      cv::meanStdDev(lap, mu, sd);
      f.blur = float(sd[0] * sd[0]);
    }
    chips.push_back(std::move(c));
  }
  out.landmarks_ms = ms_since(t2);
  dec2.reset();

  if (p.landmarks && p.describe && impl_->enc && !chips.empty()) {
    auto t3 = clk::now();
    auto d = impl_->enc->describe(chips);
    if (!d) return d.error();
    for (size_t i = 0; i < out.faces.size(); ++i) {
      out.faces[i].descriptor = (*d)[i];
      out.faces[i].has_descriptor = true;
    }
    out.model_id = impl_->enc->model_id();
    out.describe_ms = ms_since(t3);
  }
  if (p.keep_chips)
    for (size_t i = 0; i < chips.size(); ++i) out.faces[i].chip = std::move(chips[i]);
  return out;
}

Result<fs::path> write_crop(const Face& f, const fs::path& folder, const std::string& face_id) {
  if (f.crop_jpeg.empty()) return make_error("no crop for face " + face_id + " (analyze with keep_crops)");
  if (face_id.empty() || face_id.find('/') != std::string::npos || face_id == "." || face_id == "..")
    return make_error("bad face id for a file name: '" + face_id + "'");
  std::error_code ec;
  fs::create_directories(folder, ec);
  if (ec) return make_error("cannot create " + folder.string() + ": " + ec.message());
  fs::path target = folder / (face_id + ".jpg");
  FACECAT_TRY(util::write_file_atomic(target, f.crop_jpeg));
  return target;
}

Result<fs::path> write_chip(const Face& f, const fs::path& folder, const std::string& face_id) {
  if (f.chip.rgb.empty()) return make_error("no chip for face " + face_id + " (analyze with keep_chips)");
  if (face_id.empty() || face_id.find('/') != std::string::npos || face_id == "." || face_id == "..")
    return make_error("bad face id for a file name: '" + face_id + "'");
  cv::Mat rgb(f.chip.size, f.chip.size, CV_8UC3, const_cast<uint8_t*>(f.chip.rgb.data())), bgr;
  cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
  std::vector<uint8_t> buf;
  if (!cv::imencode(".png", bgr, buf)) return make_error("cannot encode chip for face " + face_id);
  std::error_code ec;
  fs::create_directories(folder, ec);
  if (ec) return make_error("cannot create " + folder.string() + ": " + ec.message());
  fs::path target = folder / (face_id + ".chip.png");
  FACECAT_TRY(util::write_file_atomic(
      target, std::string_view(reinterpret_cast<const char*>(buf.data()), buf.size())));
  return target;
}

}  // namespace facecat::face
