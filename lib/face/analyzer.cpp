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
#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/partitioner.h>
#include <spdlog/spdlog.h>

#include "face/image_decode.hpp"
#include "face/tiny_detector.hpp"
#include "util/atomic_file.hpp"

namespace facecat::face {
namespace {
namespace fs = std::filesystem;
using clk = std::chrono::steady_clock;
double ms_since(clk::time_point t) { return std::chrono::duration<double, std::milli>(clk::now() - t).count(); }

// The detection scale maps the smallest wanted face to this many pixels. Measured with dlib's frontal detector
// on one pyramid level (gray), over 264 faces of the test photos shrunk to a given box size: 64 px 94%, 68 px
// 98%, 72 px 99%, 76 px 99%, 80 px 96%, 88 px 81%, 96 px 47% (bench/README.md). 72 px is the centre of the
// reliable band, and with pyramid steps of 5/6 every larger face lands in that band on some level.
constexpr double kHogMinFace = 72.0;
// A scale within this factor below a power of two is rounded up to it (native resolution or exactly ×2^k: no
// resampling, and never a coarser scan). So min_face 80 still scans at native resolution, and with upsample 1
// it is face_recognition's exact scan (dlib's pyramid_up).
constexpr double kSnapUp = 1.25;
// A reduced JPEG decode may be upscaled by up to 1/kDecodeSlack to reach the scan scale: a 1/2 decode upscaled
// 1.2× costs far less than a full decode plus a downscale, and finds the same faces (bench/README.md).
constexpr double kDecodeSlack = 0.8;
// Pyramid step between scanned levels: dlib's pyramid_down<6>.
constexpr double kLevelStep = 5.0 / 6.0;
constexpr double kChipFacePx = 100.0;  // a face of this size fills a 150 px chip (padding 0.25) without upsampling

// detector "tiny+hog" (bench/README.md has the measurements behind each number). The tiny detector, over 231
// faces of the test photos shrunk so that their HOG box is T px, finds (score >= 0.3): T = 24: 34%, 28: 58%,
// 32: 90%, 40: 99.6%, 48: 99.6%, 64: 99.6%, 96: 98.3%; larger faces get weaker scores (a 364 px face at T = 109
// scored 0.28). So the smallest wanted face is scanned at 40 px, and coarser levels (each 1/2.4 of the previous)
// cover the larger faces, until a level's long side is below kTinyMaxFace.
constexpr double kTinyMinFace = 40.0, kTinyMaxFace = 96.0;
constexpr double kTinyScore = 0.3;  // proposals down to this score: HOG decides
// tiny box = HOG box × (kTinyW, kTinyH) and its centre kTinyDy × size lower (medians over the same faces at
// T >= 48; 5–95%: width ratio 1.11–1.73, height 1.04–1.50, offset 0.01–0.17)
constexpr double kTinyW = 1.365, kTinyH = 1.253, kTinyDy = 0.061;
constexpr double kTinyMinRel = 0.75;  // proposals predicting a face below this × min_face are dropped
// Each proposal: a crop of the predicted box grown by kVerifyMargin × its size on each side, scaled to the level
// of the full scan's pyramid (s_hog × (5/6)^k) where the predicted face is 88–106 px, scanned by HOG on
// kVerifyLevels levels: with HOG's reliable 66–80 px band, that covers true sizes of 0.75–1.57× the prediction
// (the ratios above give 0.79–1.23), and boxes come in the full scan's sizes.
constexpr double kVerifyMargin = 0.5, kVerifyFacePx = 88.0;
constexpr size_t kVerifyLevels = 4;

struct DRect { double l, t, r, b; };

using Scanner = dlib::scan_fhog_pyramid<dlib::pyramid_down<6>>;

// dlib's frontal face detector taken apart, so that pyramid levels can be scanned in parallel: one scanner
// per level (max_pyramid_levels = 1), the five filter banks and thresholds, and the overlap tester for dlib's
// non-maximum suppression. Immutable once built: shared by all copies of an analyzer.
struct HogModel {
  Scanner scanner;
  std::vector<Scanner::fhog_filterbank> banks;
  std::vector<double> thresh;
  dlib::test_box_overlap overlap;
  explicit HogModel(const dlib::frontal_face_detector& d) : overlap(d.get_overlap_tester()) {
    scanner.copy_configuration(d.get_scanner());
    scanner.set_max_pyramid_levels(1);
    for (unsigned long i = 0; i < d.num_detectors(); ++i) {
      const auto& w = d.get_w(i);
      banks.push_back(scanner.build_fhog_filterbank(w));
      thresh.push_back(w(scanner.get_num_dimensions()));
    }
  }
};

struct LevelDet {
  double conf;
  unsigned long weight;
  DRect r;  // full-resolution coordinates
};

// Scans every pyramid level of `base` (5/6 steps, as dlib's pyramid_down<6>) in parallel (TBB), then applies
// dlib's non-maximum suppression over all levels. Boxes are mapped to a full_w × full_h frame.
std::vector<std::pair<DRect, double>> detect_levels(const HogModel& hog, const cv::Mat& base, double full_w,
                                                     double full_h, double adjust, size_t max_levels = 1000) {
  std::vector<cv::Mat> levels{base};
  const long min_w = long(hog.scanner.get_min_pyramid_layer_width()),
             min_h = long(hog.scanner.get_min_pyramid_layer_height());
  while (levels.size() < max_levels) {
    const cv::Mat& prev = levels.back();
    const int w = int(prev.cols * kLevelStep), h = int(prev.rows * kLevelStep);
    if (w < min_w || h < min_h) break;
    cv::Mat next;
    cv::resize(prev, next, cv::Size(w, h), 0, 0, cv::INTER_LINEAR);
    levels.push_back(std::move(next));
  }
  std::vector<std::vector<LevelDet>> per(levels.size());
  tbb::parallel_for(
      tbb::blocked_range<size_t>(0, levels.size(), 1),
      [&](const tbb::blocked_range<size_t>& rg) {
        Scanner sc;  // holds the features of one level: one per task
        sc.copy_configuration(hog.scanner);
        std::vector<std::pair<double, dlib::rectangle>> dets;
        for (size_t li = rg.begin(); li != rg.end(); ++li) {
          const cv::Mat& L = levels[li];
          if (L.channels() == 1) sc.load(dlib::cv_image<unsigned char>(L));
          else sc.load(dlib::cv_image<dlib::bgr_pixel>(L));
          const double kx = full_w / L.cols, ky = full_h / L.rows;
          for (size_t i = 0; i < hog.banks.size(); ++i) {
            sc.detect(hog.banks[i], dets, hog.thresh[i] + adjust);
            for (auto& [score, r] : dets)
              per[li].push_back({score - hog.thresh[i], i,
                                 {r.left() * kx, r.top() * ky, (r.right() + 1) * kx, (r.bottom() + 1) * ky}});
          }
        }
      },
      tbb::simple_partitioner());
  std::vector<LevelDet> all;
  for (auto& v : per) all.insert(all.end(), v.begin(), v.end());
  std::stable_sort(all.begin(), all.end(), [](const LevelDet& a, const LevelDet& b) { return a.conf > b.conf; });
  auto to_rect = [](const DRect& r) {
    return dlib::rectangle(long(std::lround(r.l)), long(std::lround(r.t)), long(std::lround(r.r)) - 1,
                           long(std::lround(r.b)) - 1);
  };
  std::vector<std::pair<DRect, double>> out;
  std::vector<dlib::rectangle> kept;
  for (const auto& d : all) {
    const auto rr = to_rect(d.r);
    if (std::any_of(kept.begin(), kept.end(), [&](const dlib::rectangle& k) { return hog.overlap(k, rr); })) continue;
    kept.push_back(rr);
    out.push_back({d.r, d.conf});
  }
  return out;
}

}  // namespace

struct FaceAnalyzer::Impl {
  dlib::frontal_face_detector det;
  std::shared_ptr<const HogModel> hog;
  // shape_predictor::operator() is const and keeps no state: one 100 MB copy shared by all threads.
  std::shared_ptr<const dlib::shape_predictor> sp;
  std::optional<Encoder> enc;
  std::optional<detail::TinyDetector> tiny;  // for detector "tiny+hog"
  fs::path models_dir;
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
  impl->hog = std::make_shared<const HogModel>(impl->det);
  impl->models_dir = cfg.model.models_dir;
  if (cfg.load_tiny != "no") {
    const auto man = detail::tiny_detector_manifest_path(cfg.model.models_dir),
               bin = detail::tiny_detector_bin_path(cfg.model.models_dir);
    if (fs::is_regular_file(bin, ec) && fs::is_regular_file(man, ec)) {
      auto t = detail::TinyDetector::load(man, bin);
      if (!t) return t.error();
      impl->tiny.emplace(std::move(*t));
    } else if (cfg.load_tiny == "yes") {
      return make_error("tiny face detector weights not found: " + bin.string() + " (run scripts/setup)");
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

Result<ImageFaces> FaceAnalyzer::analyze_bytes(const std::string& bytes, const DetectParams& p) {
  auto t0 = clk::now();
  const bool tiny = p.detector == "tiny+hog";
  if (!tiny && p.detector != "hog") return make_error("unknown face detector '" + p.detector + "' (hog or tiny+hog)");
  if (tiny && !impl_->tiny)
    return make_error("face detector tiny+hog: the tiny face detector's weights are not in " +
                      (impl_->models_dir / "face-api" / "model").string() + " (run scripts/setup)");
  auto hdr = check_image_header(bytes, p.max_pixels);
  if (!hdr) return hdr.error();
  ImageFaces out;
  out.format = hdr->format;
  int min_face = std::max(1, p.min_face);
  if (p.min_face_fraction > 0)
    min_face = std::max(min_face, int(std::lround(p.min_face_fraction * std::max(hdr->width, hdr->height))));
  out.min_face = min_face;
  // HOG's scan scale vs full res (for tiny+hog: the scale whose pyramid levels the crops are scanned at)
  double s_hog = kHogMinFace / min_face;
  {
    const double p2 = std::pow(2.0, std::ceil(std::log2(s_hog) - 1e-9));
    if (p2 <= s_hog * kSnapUp + 1e-9) s_hog = p2;
  }
  s_hog *= std::pow(2.0, std::clamp(p.upsample, 0, 3));
  // tiny+hog: the tiny detector's first level (no upscaling: HOG confirms at its own scale)
  const double s_det = tiny ? std::min(kTinyMinFace / min_face * std::pow(2.0, std::clamp(p.upsample, 0, 3)), 1.0)
                            : s_hog;
  out.detect_scale = s_det;

  int red = 1;
  if (p.reduced_decode && hdr->format == "jpeg")
    for (int c : {8, 4, 2})
      if (s_det * c <= 1.0 / kDecodeSlack + 1e-9) {
        red = c;
        break;
      }
  auto dec = detail::decode_image(bytes, *hdr, red);
  if (!dec) return dec.error();
  out.width = dec->full_width;
  out.height = dec->full_height;
  out.detect_reduction = red = dec->reduction;
  out.warnings = dec->warnings;
  out.decode_ms = ms_since(t0);

  // --- detection ------------------------------------------------------------------------------------------------
  auto t1 = clk::now();
  const cv::Mat& D = dec->bgr;
  const double fx = double(out.width) / D.cols, fy = double(out.height) / D.rows;  // decoded -> full
  const double s_rel = s_det * fx;  // scan scale relative to the decoded image
  std::vector<std::pair<DRect, double>> found;  // full-res boxes + scores
  const int scan_w = int(std::lround(D.cols * s_rel)), scan_h = int(std::lround(D.rows * s_rel));
  // tiny+hog: a finer decode (for HOG on the proposals, then for landmarks)
  std::optional<detail::Decoded> fine;
  if (tiny && scan_w >= 32 && scan_h >= 32) {
    cv::Mat S = D;
    if (std::abs(s_rel - 1.0) > 1e-6)
      cv::resize(D, S, cv::Size(scan_w, scan_h), 0, 0, s_rel < 1 ? cv::INTER_AREA : cv::INTER_LINEAR);
    // The HOG box each proposal predicts (full-res): the tiny box is larger and sits lower (bench/README.md).
    std::vector<std::pair<DRect, double>> est;  // + the tiny detector's score
    for (;;) {
      auto props = impl_->tiny->detect(S, float(kTinyScore));
      if (!props) return props.error();
      const double kx = double(out.width) / S.cols, ky = double(out.height) / S.rows;  // S -> full
      for (const auto& d : *props) {
        const double w = (d.right - d.left) * kx, h = (d.bottom - d.top) * ky;
        const double size = std::max(w / kTinyW, h / kTinyH);
        if (size < kTinyMinRel * min_face) continue;
        const double cx = (d.left + d.right) / 2 * kx, cy = (d.top + d.bottom) / 2 * ky - kTinyDy * size;
        spdlog::debug("tiny proposal {:.0f} {:.0f} {:.0f} {:.0f} score {:.3f} predicted size {:.0f}", d.left * kx,
                      d.top * ky, d.right * kx, d.bottom * ky, d.score, size);
        // a face seen on two levels is verified once (the surer proposal)
        bool dup = false;
        for (auto& [e, sc] : est) {
          const double es = e.r - e.l;
          if (std::abs((e.l + e.r) / 2 - cx) < 0.3 * es && std::abs((e.t + e.b) / 2 - cy) < 0.3 * es &&
              size < 1.5 * es && es < 1.5 * size) {
            if (d.score > sc) {
              e = {cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2};
              sc = d.score;
            }
            dup = true;
            break;
          }
        }
        if (!dup) est.push_back({{cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2}, d.score});
      }
      // the next level: faces 2.4× larger at the same net size
      if (std::max(S.cols, S.rows) <= kTinyMaxFace) break;
      const double k = kTinyMinFace / kTinyMaxFace;
      const int w = std::max(1, int(std::lround(S.cols * k))), h = std::max(1, int(std::lround(S.rows * k)));
      if (w < 32 && h < 32) break;
      cv::Mat next;
      cv::resize(S, next, cv::Size(w, h), 0, 0, cv::INTER_AREA);
      S = next;
    }
    out.proposals = int(est.size());
    if (!est.empty()) {
      double smallest = est.front().first.r - est.front().first.l;
      for (const auto& e : est) smallest = std::min(smallest, e.first.r - e.first.l);
      int fred = red;
      while (fred > 1 && smallest / fred < kChipFacePx) fred /= 2;
      const cv::Mat* F = &D;
      if (fred != red) {
        auto d2 = detail::decode_image(bytes, *hdr, fred);
        if (!d2) return d2.error();
        fine.emplace(std::move(*d2));
        F = &fine->bgr;
      }
      const double gx = double(F->cols) / out.width, gy = double(F->rows) / out.height;  // full -> F
      std::vector<std::vector<std::pair<DRect, double>>> per(est.size());
      tbb::parallel_for(size_t(0), est.size(), [&](size_t i) {
        const DRect& e = est[i].first;
        const double size = e.r - e.l, m = kVerifyMargin * size;
        cv::Rect cr(int(std::floor((e.l - m) * gx)), int(std::floor((e.t - m) * gy)), 0, 0);
        cr.width = int(std::ceil((e.r + m) * gx)) - cr.x;
        cr.height = int(std::ceil((e.b + m) * gy)) - cr.y;
        cr &= cv::Rect(0, 0, F->cols, F->rows);
        if (cr.width < 8 || cr.height < 8) return;
        cv::Mat G, R;
        cv::cvtColor((*F)(cr), G, cv::COLOR_BGR2GRAY);
        // HOG's own pyramid level where this face is ~kVerifyFacePx (never finer than s_hog, as the full scan):
        // boxes then come in the same sizes as from the full scan
        double c = s_hog;
        while (size * c * kLevelStep >= kVerifyFacePx) c *= kLevelStep;
        const double k = c / gx;
        const int rw = int(std::lround(cr.width * k)), rh = int(std::lround(cr.height * k));
        if (rw < 40 || rh < 40) return;
        cv::resize(G, R, cv::Size(rw, rh), 0, 0, k < 1 ? cv::INTER_AREA : cv::INTER_LINEAR);
        auto dets = detect_levels(*impl_->hog, R, cr.width / gx, cr.height / gy, p.adjust_threshold, kVerifyLevels);
        const double ox = cr.x / gx, oy = cr.y / gy, ecx = (e.l + e.r) / 2, ecy = (e.t + e.b) / 2;
        for (auto& [r, sc] : dets) {
          DRect q{r.l + ox, r.t + oy, r.r + ox, r.b + oy};
          // the face the proposal is about: its centre near the predicted one
          if (std::abs((q.l + q.r) / 2 - ecx) < 0.5 * size && std::abs((q.t + q.b) / 2 - ecy) < 0.5 * size)
            per[i].push_back({q, sc});
        }
      });
      // one face per HOG box: non-maximum suppression over all proposals' confirmations, as dlib does
      std::vector<std::pair<DRect, double>> all;
      for (auto& v : per) all.insert(all.end(), v.begin(), v.end());
      std::stable_sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
      std::vector<dlib::rectangle> kept;
      for (const auto& [r, sc] : all) {
        const dlib::rectangle rr(long(std::lround(r.l)), long(std::lround(r.t)), long(std::lround(r.r)) - 1,
                                 long(std::lround(r.b)) - 1);
        if (std::any_of(kept.begin(), kept.end(), [&](const dlib::rectangle& k) { return impl_->hog->overlap(k, rr); }))
          continue;
        kept.push_back(rr);
        found.push_back({r, sc});
      }
    }
  } else if (!tiny && scan_w >= 40 && scan_h >= 40) {
    std::vector<dlib::rect_detection> dets;
    const double l2 = std::log2(s_rel);
    if (s_rel > 1 && std::abs(l2 - std::round(l2)) < 1e-6) {
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
      // Every other scale: the pyramid levels on all cores, on the gray image (HOG on colour takes the
      // gradient of the strongest channel: ~1.5× the time, and the same faces on the bench photo).
      cv::Mat S;
      cv::cvtColor(D, S, cv::COLOR_BGR2GRAY);
      if (std::abs(s_rel - 1.0) > 1e-6) {
        cv::Mat R;
        cv::resize(S, R, cv::Size(scan_w, scan_h), 0, 0, s_rel < 1 ? cv::INTER_AREA : cv::INTER_LINEAR);
        S = R;
      }
      found = detect_levels(*impl_->hog, S, out.width, out.height, p.adjust_threshold);
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
  if (fine && lred < red && fine->reduction <= lred) {  // tiny+hog's finer decode serves
    dec2 = std::move(fine);
    lred = dec2->reduction;
  } else if (lred != red) {
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
  fine.reset();

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
