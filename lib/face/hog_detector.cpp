// Detector "hog": dlib's frontal face detector (HOG) over the whole image at the scale min_face implies, its
// pyramid levels scanned in parallel; and HOG confirmation on crops, which tiny+hog and ultraface use.
#include <algorithm>
#include <cmath>
#include <dlib/image_processing.h>
#include <dlib/image_processing/frontal_face_detector.h>
#include <dlib/image_transforms.h>
#include <dlib/opencv/cv_image.h>
#include <opencv2/imgproc.hpp>
#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/partitioner.h>

#include "face/detector.hpp"

namespace facecat::face::detail {
namespace {

// The detection scale maps the smallest wanted face to this many pixels. Measured with dlib's frontal detector
// on one pyramid level (gray), over 264 faces of the test photos shrunk to a given box size: 64 px 94%, 68 px
// 98%, 72 px 99%, 76 px 99%, 80 px 96%, 88 px 81%, 96 px 47% (bench/README.md). 72 px is the centre of the
// reliable band, and with pyramid steps of 5/6 every larger face lands in that band on some level.
constexpr double kHogMinFace = 72.0;
// A scale within this factor below a power of two is rounded up to it (native resolution or exactly ×2^k: no
// resampling, and never a coarser scan). So min_face 80 still scans at native resolution, and with upsample 1
// it is face_recognition's exact scan (dlib's pyramid_up).
constexpr double kSnapUp = 1.25;
// Pyramid step between scanned levels: dlib's pyramid_down<6>.
constexpr double kLevelStep = 5.0 / 6.0;
// Confirmation on a crop: the predicted box grown by kVerifyMargin × its size on each side, scaled to the level
// of the full scan's pyramid (s_hog × (5/6)^k) where the predicted face is 88–106 px, scanned by HOG on
// kVerifyLevels levels: with HOG's reliable 66–80 px band, that covers true sizes of 0.75–1.57× the prediction.
constexpr double kVerifyMargin = 0.5, kVerifyFacePx = 88.0;
constexpr size_t kVerifyLevels = 4;

using Scanner = dlib::scan_fhog_pyramid<dlib::pyramid_down<6>>;

struct LevelDet {
  double conf;
  unsigned long weight;
  DRect r;  // full-resolution coordinates
};

dlib::rectangle to_rect(const DRect& r) {
  return dlib::rectangle(long(std::lround(r.l)), long(std::lround(r.t)), long(std::lround(r.r)) - 1,
                         long(std::lround(r.b)) - 1);
}

}  // namespace

// dlib's frontal face detector taken apart, so that pyramid levels can be scanned in parallel: one scanner
// per level (max_pyramid_levels = 1), the five filter banks and thresholds, and the overlap tester for dlib's
// non-maximum suppression. Immutable once built: shared by all copies of an analyzer.
struct HogModel {
  dlib::frontal_face_detector det;  // the whole detector (copied per thread for face_recognition's exact scan)
  Scanner scanner;
  std::vector<Scanner::fhog_filterbank> banks;
  std::vector<double> thresh;
  dlib::test_box_overlap overlap;
  HogModel() : det(dlib::get_frontal_face_detector()), overlap(det.get_overlap_tester()) {
    scanner.copy_configuration(det.get_scanner());
    scanner.set_max_pyramid_levels(1);
    for (unsigned long i = 0; i < det.num_detectors(); ++i) {
      const auto& w = det.get_w(i);
      banks.push_back(scanner.build_fhog_filterbank(w));
      thresh.push_back(w(scanner.get_num_dimensions()));
    }
  }
};

std::shared_ptr<const HogModel> make_hog_model() { return std::make_shared<const HogModel>(); }

double hog_scale(int min_face, int upsample) {
  double s = kHogMinFace / min_face;
  const double p2 = std::pow(2.0, std::ceil(std::log2(s) - 1e-9));
  if (p2 <= s * kSnapUp + 1e-9) s = p2;
  return s * std::pow(2.0, std::clamp(upsample, 0, 3));
}

std::vector<std::pair<DRect, double>> hog_nms(const HogModel& hog, std::vector<std::pair<DRect, double>> all) {
  std::stable_sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  std::vector<std::pair<DRect, double>> out;
  std::vector<dlib::rectangle> kept;
  for (const auto& [r, sc] : all) {
    const auto rr = to_rect(r);
    if (std::any_of(kept.begin(), kept.end(), [&](const dlib::rectangle& k) { return hog.overlap(k, rr); })) continue;
    kept.push_back(rr);
    out.push_back({r, sc});
  }
  return out;
}

namespace {

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
  std::vector<std::pair<DRect, double>> all;
  for (auto& v : per)
    for (auto& d : v) all.push_back({d.r, d.conf});
  return hog_nms(hog, std::move(all));
}

class HogDetector final : public Detector {
 public:
  explicit HogDetector(std::shared_ptr<const HogModel> hog) : hog_(std::move(hog)), det_(hog_->det) {}
  double scale(int min_face, const DetectParams& p) const override { return hog_scale(min_face, p.upsample); }

  Result<DetectOutput> detect(const DetectInput& in) override {
    DetectOutput out;
    const cv::Mat& D = in.image.bgr;
    const double fx = double(in.full_width) / D.cols, fy = double(in.full_height) / D.rows;  // decoded -> full
    const double s_rel = in.scale * fx;  // scan scale relative to the decoded image
    const int scan_w = int(std::lround(D.cols * s_rel)), scan_h = int(std::lround(D.rows * s_rel));
    if (scan_w < 40 || scan_h < 40) return out;
    std::vector<std::pair<DRect, double>> found;
    const double l2 = std::log2(s_rel);
    if (s_rel > 1 && std::abs(l2 - std::round(l2)) < 1e-6) {
      // Exactly 2^k: dlib's pyramid_up, as face_recognition does, so boxes match it to the pixel.
      std::vector<dlib::rect_detection> dets;
      dlib::matrix<dlib::rgb_pixel> img;
      dlib::assign_image(img, dlib::cv_image<dlib::bgr_pixel>(D));
      dlib::pyramid_down<2> pyr;
      const int k = int(std::lround(l2));
      for (int i = 0; i < k; ++i) dlib::pyramid_up(img, pyr);
      det_(img, dets, in.params.adjust_threshold);
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
      found = detect_levels(*hog_, S, in.full_width, in.full_height, in.params.adjust_threshold);
    }
    for (auto& [r, s] : found) out.faces.push_back({r, s, true});
    return out;
  }

  std::unique_ptr<Detector> clone() const override { return std::make_unique<HogDetector>(hog_); }

 private:
  std::shared_ptr<const HogModel> hog_;
  dlib::frontal_face_detector det_;  // not thread-safe: one per instance
};

}  // namespace

std::unique_ptr<Detector> make_hog_detector(std::shared_ptr<const HogModel> hog) {
  return std::make_unique<HogDetector>(std::move(hog));
}

Result<std::vector<std::pair<DRect, double>>> confirm_with_hog(const HogModel& hog, const std::vector<DRect>& est,
                                                              Decodes& decodes, int det_reduction, double s_hog,
                                                              int full_w, int full_h, double adjust,
                                                              std::vector<bool>* confirmed,
                                                              const std::vector<double>* extra_adjust) {
  if (confirmed) confirmed->assign(est.size(), false);
  if (est.empty()) return std::vector<std::pair<DRect, double>>{};
  double smallest = est.front().w();
  for (const auto& e : est) smallest = std::min(smallest, e.w());
  int fred = det_reduction;
  while (fred > 1 && smallest / fred < kChipFacePx) fred /= 2;
  // the crops only (Decodes::need: for a JPEG without a fine enough decode, one pass over just these regions)
  std::vector<cv::Rect> regions;
  for (const auto& e : est) regions.push_back(grown_rect(e.l, e.t, e.r, e.b, kConfirmDecodeMargin * e.w()));
  FACECAT_TRY(decodes.need(fred, regions, full_w, full_h));
  std::vector<Decodes::View> views;
  for (const auto& r : regions) {
    auto v = decodes.view(fred, r);
    if (!v) return v.error();
    views.push_back(*v);
  }
  std::vector<std::vector<std::pair<DRect, double>>> per(est.size());
  tbb::parallel_for(size_t(0), est.size(), [&](size_t i) {
    const DRect& e = est[i];
    const cv::Mat& F = views[i].img;
    const double gx = views[i].sx, gy = views[i].sy, vx = views[i].ox, vy = views[i].oy;  // full -> F: x * g - v
    const double size = e.w();
    cv::Rect cr = grown_rect(e.l, e.t, e.r, e.b, kVerifyMargin * size, views[i]);
    cr &= cv::Rect(0, 0, F.cols, F.rows);
    if (cr.width < 8 || cr.height < 8) return;
    cv::Mat G, R;
    cv::cvtColor(F(cr), G, cv::COLOR_BGR2GRAY);
    // HOG's own pyramid level where this face is ~kVerifyFacePx (never finer than s_hog, as the full scan):
    // boxes then come in the same sizes as from the full scan
    double c = s_hog;
    while (size * c * kLevelStep >= kVerifyFacePx) c *= kLevelStep;
    const double k = c / gx;
    const int rw = int(std::lround(cr.width * k)), rh = int(std::lround(cr.height * k));
    if (rw < 40 || rh < 40) return;
    cv::resize(G, R, cv::Size(rw, rh), 0, 0, k < 1 ? cv::INTER_AREA : cv::INTER_LINEAR);
    auto dets = detect_levels(hog, R, cr.width / gx, cr.height / gy, adjust + (extra_adjust ? (*extra_adjust)[i] : 0.0),
                              kVerifyLevels);
    const double ox = (cr.x + vx) / gx, oy = (cr.y + vy) / gy, ecx = e.cx(), ecy = e.cy();
    for (auto& [r, sc] : dets) {
      DRect q{r.l + ox, r.t + oy, r.r + ox, r.b + oy};
      // the face the proposal is about: its centre near the predicted one
      if (std::abs(q.cx() - ecx) < 0.5 * size && std::abs(q.cy() - ecy) < 0.5 * size) per[i].push_back({q, sc});
    }
  });
  // one face per HOG box: non-maximum suppression over all proposals' confirmations, as dlib does
  std::vector<std::pair<DRect, double>> all;
  for (size_t i = 0; i < per.size(); ++i)
    for (auto& x : per[i]) all.push_back(x);
  auto kept = hog_nms(hog, all);
  // Crops are scanned with a lower threshold for faces the CNN is sure of, which can let a weaker, smaller or larger
  // box of the same face through next to the real one (dlib's overlap test keeps boxes that overlap by less than
  // half: bald_guys.jpg had two such pairs with the 28 px scan). A box whose centre lies inside a better box is that
  // face again, never a face of its own (kept is best first).
  std::vector<std::pair<DRect, double>> distinct;
  for (const auto& k : kept)
    if (std::none_of(distinct.begin(), distinct.end(), [&](const auto& d) {
          return k.first.cx() > d.first.l && k.first.cx() < d.first.r && k.first.cy() > d.first.t &&
                 k.first.cy() < d.first.b;
        }))
      distinct.push_back(k);
  kept.swap(distinct);
  if (confirmed)  // a prediction counts as confirmed when a kept box lies on it (its own or another's)
    for (size_t i = 0; i < est.size(); ++i)
      for (const auto& [q, sc] : kept)
        if (std::abs(q.cx() - est[i].cx()) < 0.5 * est[i].w() && std::abs(q.cy() - est[i].cy()) < 0.5 * est[i].w())
          (*confirmed)[i] = true;
  return kept;
}

}  // namespace facecat::face::detail
