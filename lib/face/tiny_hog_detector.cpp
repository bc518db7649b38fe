// Detector "tiny+hog": face-api.js's tiny face detector (tiny_detector.cpp, OpenCV DNN) over the whole image at a
// coarse scale proposes faces; each proposal is confirmed by HOG on a small crop (hog_detector.cpp), so boxes
// keep HOG's geometry. bench/README.md has the measurements behind each number.
#include <algorithm>
#include <cmath>
#include <opencv2/imgproc.hpp>
#include <spdlog/spdlog.h>

#include "face/detector.hpp"
#include "face/tiny_detector.hpp"

namespace facecat::face::detail {
namespace {

// The tiny detector, over 231 faces of the test photos shrunk so that their HOG box is T px, finds (score >= 0.3):
// T = 24: 34%, 28: 58%, 32: 90%, 40: 99.6%, 48: 99.6%, 64: 99.6%, 96: 98.3%; larger faces get weaker scores (a
// 364 px face at T = 109 scored 0.28). So the smallest wanted face is scanned at 40 px, and coarser levels (each
// 1/2.4 of the previous) cover the larger faces, until a level's long side is below kTinyMaxFace.
constexpr double kTinyMinFace = 40.0, kTinyMaxFace = 96.0;
constexpr double kTinyScore = 0.3;  // proposals down to this score: HOG decides
// tiny box = HOG box × (kTinyW, kTinyH) and its centre kTinyDy × size lower (medians over the same faces at
// T >= 48; 5–95%: width ratio 1.11–1.73, height 1.04–1.50, offset 0.01–0.17)
constexpr double kTinyW = 1.365, kTinyH = 1.253, kTinyDy = 0.061;
constexpr double kTinyMinRel = 0.75;  // proposals predicting a face below this × min_face are dropped

class TinyHogDetector final : public Detector {
 public:
  TinyHogDetector(TinyDetector tiny, std::shared_ptr<const HogModel> hog) : tiny_(std::move(tiny)), hog_(std::move(hog)) {}

  // the tiny detector's first level (no upscaling: HOG confirms at its own scale)
  double scale(int min_face, const DetectParams& p) const override {
    return std::min(kTinyMinFace / min_face * std::pow(2.0, std::clamp(p.upsample, 0, 3)), 1.0);
  }

  Result<DetectOutput> detect(const DetectInput& in) override {
    DetectOutput out;
    const cv::Mat& D = in.image.bgr;
    const double s_rel = in.scale * double(in.full_width) / D.cols;  // scan scale relative to the decoded image
    const int scan_w = int(std::lround(D.cols * s_rel)), scan_h = int(std::lround(D.rows * s_rel));
    if (scan_w < 32 || scan_h < 32) return out;
    cv::Mat S = D;
    if (std::abs(s_rel - 1.0) > 1e-6)
      cv::resize(D, S, cv::Size(scan_w, scan_h), 0, 0, s_rel < 1 ? cv::INTER_AREA : cv::INTER_LINEAR);
    // The HOG box each proposal predicts (full-res): the tiny box is larger and sits lower (bench/README.md).
    std::vector<std::pair<DRect, double>> est;  // + the tiny detector's score
    for (;;) {
      auto props = tiny_.detect(S, float(kTinyScore));
      if (!props) return props.error();
      const double kx = double(in.full_width) / S.cols, ky = double(in.full_height) / S.rows;  // S -> full
      for (const auto& d : *props) {
        const double w = (d.right - d.left) * kx, h = (d.bottom - d.top) * ky;
        const double size = std::max(w / kTinyW, h / kTinyH);
        if (size < kTinyMinRel * in.min_face) continue;
        const double cx = (d.left + d.right) / 2 * kx, cy = (d.top + d.bottom) / 2 * ky - kTinyDy * size;
        spdlog::debug("tiny proposal {:.0f} {:.0f} {:.0f} {:.0f} score {:.3f} predicted size {:.0f}", d.left * kx,
                      d.top * ky, d.right * kx, d.bottom * ky, d.score, size);
        // a face seen on two levels is verified once (the surer proposal)
        bool dup = false;
        for (auto& [e, sc] : est) {
          const double es = e.w();
          if (std::abs(e.cx() - cx) < 0.3 * es && std::abs(e.cy() - cy) < 0.3 * es && size < 1.5 * es &&
              es < 1.5 * size) {
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
    std::vector<DRect> boxes;
    for (auto& e : est) boxes.push_back(e.first);
    auto kept = confirm_with_hog(*hog_, boxes, in.decodes, in.image.reduction,
                                 hog_scale(in.min_face, in.params.upsample), in.full_width, in.full_height,
                                 in.params.adjust_threshold);
    if (!kept) return kept.error();
    for (auto& [r, s] : *kept) out.faces.push_back({r, s, true});
    return out;
  }

  std::unique_ptr<Detector> clone() const override { return std::make_unique<TinyHogDetector>(tiny_, hog_); }

 private:
  TinyDetector tiny_;  // one network per instance
  std::shared_ptr<const HogModel> hog_;
};

}  // namespace

std::unique_ptr<Detector> make_tiny_hog_detector(const TinyDetector& tiny, std::shared_ptr<const HogModel> hog) {
  return std::make_unique<TinyHogDetector>(tiny, std::move(hog));
}

}  // namespace facecat::face::detail
