#include "face/analyzer.hpp"
#include "core/models_dir.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <dlib/image_processing.h>
#include <dlib/image_transforms.h>
#include <dlib/opencv/cv_image.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <map>
#include <optional>
#include <spdlog/spdlog.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include "face/chip.hpp"
#include "face/detector.hpp"
#include "face/image_decode.hpp"
#include "face/jitter.hpp"
#include "face/tiny_detector.hpp"
#include "face/ultraface.hpp"
#include "util/atomic_file.hpp"

namespace facecat::face {

Chip extract_chip(const dlib::cv_image<dlib::bgr_pixel>& img, const dlib::full_object_detection& sh, int size,
                  double padding, float* blur) {
  dlib::matrix<dlib::rgb_pixel> chip;
  dlib::extract_image_chip(img, dlib::get_face_chip_details(sh, unsigned(size), padding), chip);
  Chip c;
  c.size = int(chip.nr());
  c.rgb.resize(size_t(chip.nr() * chip.nc() * 3));
  std::memcpy(c.rgb.data(), &chip(0, 0), c.rgb.size());
  cv::Mat rgb(c.size, c.size, CV_8UC3, c.rgb.data()), gray, lap;
  cv::cvtColor(rgb, gray, cv::COLOR_RGB2GRAY);
  cv::Laplacian(gray, lap, CV_64F);
  cv::Scalar mu, sd;
  cv::meanStdDev(lap, mu, sd);
  *blur = float(sd[0] * sd[0]);
  return c;
}

float frontalness_of(const std::vector<Point>& landmarks) {
  if (landmarks.size() < 68) return 0;
  auto P = [&](int i) { return landmarks[size_t(i)]; };
  float ux = P(45).x - P(36).x, uy = P(45).y - P(36).y;
  const float n = std::hypot(ux, uy);
  if (n <= 0) return 0;
  ux /= n;
  uy /= n;
  const float a = (P(30).x - P(0).x) * ux + (P(30).y - P(0).y) * uy;
  const float b = (P(16).x - P(30).x) * ux + (P(16).y - P(30).y) * uy;
  const float hi = std::max(a, b), lo = std::min(a, b);
  return hi > 0 ? std::clamp(lo / hi, 0.0f, 1.0f) : 0.0f;
}
namespace {
namespace fs = std::filesystem;
using clk = std::chrono::steady_clock;
double ms_since(clk::time_point t) { return std::chrono::duration<double, std::milli>(clk::now() - t).count(); }

// A reduced JPEG decode may be upscaled by up to 1/kDecodeSlack to reach the detector's scale: a 1/2 decode
// upscaled 1.2× costs far less than a full decode plus a downscale, and finds the same faces (bench/README.md).
constexpr double kDecodeSlack = 0.8;
// describe_stage splits an image's chips over the cores only from this many chips per part on (a batch of 8 per
// forward pass costs ~15-20% less per chip than one at a time: smaller parts lose more than the second core gains)
constexpr size_t kMinChipsPerPart = 4;

}  // namespace

struct FaceAnalyzer::Impl {
  std::shared_ptr<const detail::HogModel> hog;
  // shape_predictor::operator() is const and keeps no state: one 100 MB copy shared by all threads.
  std::shared_ptr<const dlib::shape_predictor> sp;
  std::optional<Encoder> enc;
  std::vector<Encoder> extra_enc;  // describe_stage's encoders for the other cores (copies of enc, made when needed)
  // DetectParams::detector -> its detector (one instance per analyzer copy)
  std::map<std::string, std::unique_ptr<detail::Detector>> detectors;
  fs::path models_dir;

  Impl() = default;
  Impl(const Impl& o) : hog(o.hog), sp(o.sp), enc(o.enc), models_dir(o.models_dir) {
    for (const auto& [name, d] : o.detectors) detectors.emplace(name, d->clone());
  }

  // --- the stages of analyze_bytes ---------------------------------------------------------------------------
  Result<detail::Detector*> detector_for(const DetectParams& p) const;
  static Result<const detail::Decoded*> decode_stage(detail::Decodes& decodes, const ImageHeader& hdr, double scale,
                                                     const DetectParams& p, ImageFaces& out);
  Result<void> landmark_stage(detail::Decodes& decodes, const DetectParams& p, ImageFaces& out,
                              std::vector<Chip>& chips) const;
  Result<void> describe_stage(const DetectParams& p, std::vector<Chip>& chips, ImageFaces& out);
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
  impl->hog = detail::make_hog_model();
  impl->detectors.emplace("hog", detail::make_hog_detector(impl->hog));
  impl->models_dir = cfg.model.models_dir;
  if (cfg.load_tiny != "no") {
    const auto man = detail::tiny_detector_manifest_path(cfg.model.models_dir),
               bin = detail::tiny_detector_bin_path(cfg.model.models_dir);
    if (fs::is_regular_file(bin, ec) && fs::is_regular_file(man, ec)) {
      auto t = detail::TinyDetector::load(man, bin);
      if (!t) return t.error();
      impl->detectors.emplace("tiny+hog", detail::make_tiny_hog_detector(*t, impl->hog));
    } else if (cfg.load_tiny == "yes") {
      return make_error("tiny face detector weights not found: " + bin.string() + " (" + std::string(kGetModelsHint) + ")");
    }
  }
  if (cfg.load_ultraface != "no") {
    const auto path = detail::ultraface_model_path(cfg.model.models_dir);
    if (fs::is_regular_file(path, ec)) {
      auto u = detail::UltraFace::load(path);
      if (!u) return u.error();
      impl->detectors.emplace("ultraface", detail::make_ultraface_detector(*u, impl->hog));
      impl->detectors.emplace("ultraface:fit", detail::make_ultraface_detector(*u, impl->hog, false));
    } else if (cfg.load_ultraface == "yes") {
      return make_error("UltraFace model not found: " + path.string() + " (" + std::string(kGetModelsHint) + ")");
    }
  }
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

Result<detail::Detector*> FaceAnalyzer::Impl::detector_for(const DetectParams& p) const {
  auto it = detectors.find(p.detector);
  if (it != detectors.end()) return it->second.get();
  if (p.detector == "tiny+hog")
    return make_error("face detector tiny+hog: the tiny face detector's weights are not in " +
                      (models_dir / "face-api" / "model").string() + " (" + std::string(kGetModelsHint) + ")");
  if (p.detector == "ultraface")
    return make_error("face detector ultraface: " + detail::ultraface_model_path(models_dir).string() +
                      " is missing (run scripts/setup)");
  return make_error("unknown face detector '" + p.detector + "' (hog, tiny+hog or ultraface)");
}

// Decode for detection: JPEGs at 1/2, 1/4 or 1/8 (DCT scaling) when that is at most a 1/kDecodeSlack upscale
// from the detector's scale.
Result<const detail::Decoded*> FaceAnalyzer::Impl::decode_stage(detail::Decodes& decodes, const ImageHeader& hdr,
                                                                double scale, const DetectParams& p, ImageFaces& out) {
  int red = 1;
  if (p.reduced_decode && hdr.format == "jpeg")
    for (int c : {8, 4, 2})
      if (scale * c <= 1.0 / kDecodeSlack + 1e-9) {
        red = c;
        break;
      }
  auto dec = decodes.at_most(red);
  if (!dec) return dec.error();
  out.width = (*dec)->full_width;
  out.height = (*dec)->full_height;
  out.detect_reduction = (*dec)->reduction;
  out.warnings = (*dec)->warnings;
  return dec;
}

// Landmarks, chips, crops and quality figures, from a decode fine enough for the smallest face: a whole decode
// made for detection when one is fine enough, else (JPEG) only the regions around the faces (Decodes::need; issue
// 14 step 5: no full-resolution decode for a few faces). Faces run in parallel (the predictor is const).
Result<void> FaceAnalyzer::Impl::landmark_stage(detail::Decodes& decodes, const DetectParams& p, ImageFaces& out,
                                                std::vector<Chip>& chips) const {
  int lred = out.detect_reduction;
  int smallest = out.faces.front().size;
  for (auto& f : out.faces) smallest = std::min(smallest, f.size);
  while (lred > 1 && smallest / double(lred) < detail::kChipFacePx) lred /= 2;
  const size_t n = out.faces.size();
  const double margin = std::max(detail::kRegionMargin, p.crop_margin);
  std::vector<cv::Rect> regions;
  for (const auto& f : out.faces)
    regions.push_back(detail::grown_rect(f.box.left, f.box.top, f.box.right, f.box.bottom, margin * f.size));
  FACECAT_TRY(decodes.need(lred, regions, out.width, out.height));
  std::vector<detail::Decodes::View> views;
  for (const auto& r : regions) {
    auto v = decodes.view(lred, r);
    if (!v) return v.error();
    views.push_back(*v);
    out.landmark_reduction = std::max(out.landmark_reduction, v->reduction);
  }
  // crops and landmarks (shape: in the face's view's pixels)
  std::vector<dlib::full_object_detection> shapes(n);
  tbb::parallel_for(size_t(0), n, [&](size_t i) {
    Face& f = out.faces[i];
    const auto& v = views[i];
    const cv::Mat& L = v.img;
    const double lx = v.sx, ly = v.sy;  // full -> L: x * lx - v.ox
    if (p.keep_crops) {
      cv::Rect cr = detail::grown_rect(f.box.left, f.box.top, f.box.right, f.box.bottom, p.crop_margin * f.size, v);
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
    if (!p.landmarks) return;
    dlib::cv_image<dlib::bgr_pixel> limg(L);
    dlib::rectangle rr(long(std::lround(f.box.left * lx - v.ox)), long(std::lround(f.box.top * ly - v.oy)),
                       long(std::lround(f.box.right * lx - v.ox)) - 1, long(std::lround(f.box.bottom * ly - v.oy)) - 1);
    shapes[i] = (*sp)(limg, rr);
    f.landmarks.reserve(shapes[i].num_parts());
    for (unsigned long k = 0; k < shapes[i].num_parts(); ++k)
      f.landmarks.push_back({float((shapes[i].part(k).x() + v.ox) / lx), float((shapes[i].part(k).y() + v.oy) / ly)});
    f.frontalness = frontalness_of(f.landmarks);
  });
  if (!p.landmarks) return {};
  // the chips: a turned face's chip may reach beyond its region; those regions are decoded in a second pass
  std::vector<size_t> wider;
  std::vector<cv::Rect> wider_rects;
  for (size_t i = 0; i < n; ++i) {
    const auto& v = views[i];
    const auto cd = dlib::get_face_chip_details(shapes[i], unsigned(p.chip_size), p.chip_padding);
    const dlib::dpoint c = dlib::center(cd.rect);
    const double hw = cd.rect.width() / 2 + 2, hh = cd.rect.height() / 2 + 2;  // + bilinear neighbours
    const double ca = std::abs(std::cos(cd.angle)), sa = std::abs(std::sin(cd.angle));
    const double ex = hw * ca + hh * sa, ey = hw * sa + hh * ca;  // half extent of the turned chip, view pixels
    const cv::Rect need_v(int(std::floor(c.x() - ex)), int(std::floor(c.y() - ey)), int(std::ceil(2 * ex)) + 1,
                          int(std::ceil(2 * ey)) + 1);
    const cv::Rect frame_v(int(std::lround(-v.ox)), int(std::lround(-v.oy)), int(std::lround(out.width * v.sx)),
                           int(std::lround(out.height * v.sy)));
    const cv::Rect in_frame = need_v & frame_v;
    if ((in_frame & cv::Rect(0, 0, v.img.cols, v.img.rows)) == in_frame) continue;
    wider.push_back(i);  // in full-resolution pixels:
    const int x0 = int(std::floor((need_v.x + v.ox) / v.sx)), y0 = int(std::floor((need_v.y + v.oy) / v.sy));
    wider_rects.emplace_back(x0, y0, int(std::ceil((need_v.br().x + v.ox) / v.sx)) - x0 + 1,
                             int(std::ceil((need_v.br().y + v.oy) / v.sy)) - y0 + 1);
  }
  if (!wider.empty()) {
    FACECAT_TRY(decodes.need(lred, wider_rects, out.width, out.height));
    for (size_t k = 0; k < wider.size(); ++k) {
      auto v = decodes.view(lred, wider_rects[k]);
      if (!v) return v.error();
      const size_t i = wider[k];
      const dlib::point shift(std::lround(views[i].ox - v->ox), std::lround(views[i].oy - v->oy));
      for (unsigned long q = 0; q < shapes[i].num_parts(); ++q) shapes[i].part(q) += shift;
      shapes[i].get_rect() = dlib::translate_rect(shapes[i].get_rect(), shift);
      views[i] = *v;
    }
  }
  chips.resize(n);
  tbb::parallel_for(size_t(0), n, [&](size_t i) {
    dlib::cv_image<dlib::bgr_pixel> limg(views[i].img);
    chips[i] = extract_chip(limg, shapes[i], p.chip_size, p.chip_padding, &out.faces[i].blur);
  });
  return {};
}

// Descriptors in batches (Encoder::describe: 8 chips per forward pass) on every core the task arena has: an image
// with many faces is split into up to that many parts, each on an encoder of its own (issue 14 step 6). In
// facecat-detect's pipeline the other worker is usually busy with its own file, and the parts then run one after
// the other on this thread.
Result<void> FaceAnalyzer::Impl::describe_stage(const DetectParams& p, std::vector<Chip>& chips, ImageFaces& out) {
  if (!p.landmarks || !p.describe || !enc || chips.empty()) return {};
  const size_t n = chips.size();
  const size_t parts = std::min<size_t>(size_t(std::max(1, tbb::this_task_arena::max_concurrency())),
                                        n / kMinChipsPerPart);
  std::vector<Descriptor> all;
  if (p.jitter > 1) {
    // N copies per face, one face at a time per core (a face's copies fill the batches)
    const size_t cores = std::min<size_t>(size_t(std::max(1, tbb::this_task_arena::max_concurrency())), n);
    while (extra_enc.size() + 1 < cores) extra_enc.push_back(*enc);
    std::vector<Result<Descriptor>> got(n, Result<Descriptor>(Descriptor{}));
    tbb::parallel_for(size_t(0), cores, [&](size_t k) {
      Encoder& e = k == 0 ? *enc : extra_enc[k - 1];
      for (size_t i = k; i < n; i += cores) got[i] = describe_jittered(e, chips[i], p.jitter);
    });
    for (auto& g : got) {
      if (!g) return g.error();
      all.push_back(*g);
    }
  } else if (parts <= 1) {
    auto d = enc->describe(chips);
    if (!d) return d.error();
    all = std::move(*d);
  } else {
    while (extra_enc.size() + 1 < parts) extra_enc.push_back(*enc);  // kept for the next images
    std::vector<Result<std::vector<Descriptor>>> got(parts, Result<std::vector<Descriptor>>(std::vector<Descriptor>{}));
    tbb::parallel_for(size_t(0), parts, [&](size_t k) {
      const size_t a = n * k / parts, b = n * (k + 1) / parts;
      std::vector<Chip> mine(std::make_move_iterator(chips.begin() + long(a)),
                             std::make_move_iterator(chips.begin() + long(b)));
      Encoder& e = k == 0 ? *enc : extra_enc[k - 1];
      got[k] = e.describe(mine);
      std::move(mine.begin(), mine.end(), chips.begin() + long(a));  // the chips stay for keep_chips
    });
    for (auto& g : got) {
      if (!g) return g.error();
      all.insert(all.end(), g->begin(), g->end());
    }
  }
  for (size_t i = 0; i < out.faces.size(); ++i) {
    out.faces[i].descriptor = all[i];
    out.faces[i].has_descriptor = true;
  }
  out.model_id = enc->model_id();
  return {};
}

Result<ImageFaces> FaceAnalyzer::analyze_bytes(const std::string& bytes, const DetectParams& p) {
  auto t0 = clk::now();
  // --- header: format, size, the smallest wanted face ------------------------------------------------------------
  auto detector = impl_->detector_for(p);
  if (!detector) return detector.error();
  auto hdr = check_image_header(bytes, p.max_pixels);
  if (!hdr) return hdr.error();
  ImageFaces out;
  out.format = hdr->format;
  int min_face = std::max(1, p.min_face);
  if (p.min_face_fraction > 0)
    min_face = std::max(min_face, int(std::lround(p.min_face_fraction * std::max(hdr->width, hdr->height))));
  out.min_face = min_face;
  out.detect_scale = (*detector)->scale(min_face, p);

  // --- decode ------------------------------------------------------------------------------------------------------
  detail::Decodes decodes(bytes, *hdr, p.region_decode);
  auto dec = Impl::decode_stage(decodes, *hdr, out.detect_scale, p, out);
  if (!dec) return dec.error();
  out.decode_ms = ms_since(t0);

  // --- detect ------------------------------------------------------------------------------------------------------
  auto t1 = clk::now();
  auto found = (*detector)->detect({**dec, decodes, min_face, out.detect_scale, out.width, out.height, p});
  if (!found) return found.error();
  out.proposals = found->proposals;
  out.unconfirmed = found->unconfirmed;
  out.detect_ms = ms_since(t1);
  std::sort(found->faces.begin(), found->faces.end(), [](const auto& a, const auto& b) {
    return a.box.t != b.box.t ? a.box.t < b.box.t : a.box.l < b.box.l;
  });
  for (auto& x : found->faces) {
    Face f;
    f.box = {int(std::lround(x.box.l)), int(std::lround(x.box.t)), int(std::lround(x.box.r)), int(std::lround(x.box.b))};
    f.score = x.score;
    f.size = std::max(f.box.width(), f.box.height());
    f.hog_box = x.hog_box;
    out.faces.push_back(std::move(f));
  }
  if (out.faces.empty() || !(p.landmarks || p.keep_crops)) return out;

  // --- landmarks, chips, crops --------------------------------------------------------------------------------------
  auto t2 = clk::now();
  std::vector<Chip> chips;
  FACECAT_TRY(impl_->landmark_stage(decodes, p, out, chips));
  decodes.clear();
  out.landmarks_ms = ms_since(t2);

  // --- describe -----------------------------------------------------------------------------------------------------
  auto t3 = clk::now();
  FACECAT_TRY(impl_->describe_stage(p, chips, out));
  if (!out.model_id.empty()) out.describe_ms = ms_since(t3);
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
