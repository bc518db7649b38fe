// Scene-cut detectors with the semantics of PySceneDetect 0.7 (ContentDetector, AdaptiveDetector,
// ThresholdDetector), fed with small BGR analysis frames (about 256 px on the long side) in decode order.
// Frame numbers are 0-based decoded-frame ordinals; a cut is the first frame of the new shot.
// Pure computation: no I/O, no logging, so the unit tests drive them with synthetic frames.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

namespace facecat::video {

// Enforces the minimum scene length (PySceneDetect's FlashFilter, counted in frames).
// Merge: a burst of above-threshold frames closer together than `length` (a flash, a strobe) becomes one cut,
//        placed on the last frame of the burst; no cut is emitted within `length` frames of the video start.
// Suppress: after a cut, further cuts are ignored until `length` frames have passed.
class FlashFilter {
 public:
  enum class Mode { Merge, Suppress };
  FlashFilter(Mode mode, int64_t length) : mode_(mode), length_(length) {}
  std::vector<int64_t> filter(int64_t frame, bool above_threshold);
  int64_t max_behind() const { return mode_ == Mode::Merge ? length_ : 0; }

 private:
  Mode mode_;
  int64_t length_;
  bool have_last_ = false;
  int64_t last_above_ = 0;
  bool merge_enabled_ = false;
  bool merge_triggered_ = false;
  int64_t merge_start_ = 0;
};

// The content score of a frame against the previous one: the weighted mean of the mean absolute per-pixel
// differences of H, S and V (OpenCV's 8-bit HSV; hue is not treated as circular, as in PySceneDetect).
struct HsvWeights {
  double hue = 1.0, sat = 1.0, lum = 1.0;
};

class ContentScorer {
 public:
  explicit ContentScorer(HsvWeights w = {}) : w_(w) {}
  // 0 for the first frame. `bgr` is CV_8UC3; all frames must have the same size.
  double score(const cv::Mat& bgr);
  void reset() { have_prev_ = false; }

 private:
  HsvWeights w_;
  cv::Mat hsv_, prev_hsv_;
  bool have_prev_ = false;
};

// Mean of all BGR bytes of a frame (ThresholdDetector's metric).
double frame_average(const cv::Mat& bgr);

// A detector consumes frames in order and returns the cuts it can decide on so far (possibly for frames in
// the past); post_process() returns the remaining ones at the end of the video.
class Detector {
 public:
  virtual ~Detector() = default;
  virtual std::vector<int64_t> process(int64_t frame, const cv::Mat& bgr) = 0;
  virtual std::vector<int64_t> post_process(int64_t last_frame) {
    (void)last_frame;
    return {};
  }
  // The detector's metric for the frame processed last (content_val, adaptive ratio or the frame average).
  virtual double last_metric() const = 0;
  virtual const char* name() const = 0;
};

struct ContentParams {
  double threshold = 27.0;
  int64_t min_scene_len = 15;
  HsvWeights weights{};
  FlashFilter::Mode filter_mode = FlashFilter::Mode::Merge;
};

// Cut when the content score is >= threshold, filtered by min_scene_len (merge by default).
class ContentDetector : public Detector {
 public:
  explicit ContentDetector(ContentParams p = {})
      : p_(p), scorer_(p.weights), filter_(p.filter_mode, p.min_scene_len) {}
  std::vector<int64_t> process(int64_t frame, const cv::Mat& bgr) override;
  // Same as process(), for a score computed elsewhere (tests; shared scoring).
  std::vector<int64_t> process_score(int64_t frame, double score);
  double last_metric() const override { return last_; }
  const char* name() const override { return "content"; }

 private:
  ContentParams p_;
  ContentScorer scorer_;
  FlashFilter filter_;
  double last_ = 0;
};

struct AdaptiveParams {
  double adaptive_threshold = 3.0;
  int64_t min_scene_len = 15;
  int window_width = 2;
  double min_content_val = 15.0;
  HsvWeights weights{};
};

// Ratio of a frame's content score to the mean score of its window_width neighbours on each side (capped at
// 255); cut when ratio >= adaptive_threshold and score >= min_content_val, at least min_scene_len frames after
// the previous cut (counted from the first frame). Decided window_width frames late.
class AdaptiveDetector : public Detector {
 public:
  explicit AdaptiveDetector(AdaptiveParams p = {}) : p_(p), scorer_(p.weights) {}
  std::vector<int64_t> process(int64_t frame, const cv::Mat& bgr) override;
  std::vector<int64_t> process_score(int64_t frame, double score);
  double last_metric() const override { return last_ratio_; }
  const char* name() const override { return "adaptive"; }

 private:
  AdaptiveParams p_;
  ContentScorer scorer_;
  std::vector<std::pair<int64_t, double>> buf_;
  bool have_last_cut_ = false;
  int64_t last_cut_ = 0;
  double last_ratio_ = 0;
};

struct ThresholdParams {
  double threshold = 12.0;    // 8-bit intensity; a frame whose average is below it is "black"
  int64_t min_scene_len = 15;
  double fade_bias = 0.0;     // -1: cut at the fade-out, 0: in the middle, +1: at the fade-in
  bool add_final_scene = false;
};

// Fades to and from black: a cut in the middle of each black stretch (between fade-out and fade-in), when at
// least min_scene_len frames have passed since the previous fade-in (PySceneDetect 0.6 semantics).
class ThresholdDetector : public Detector {
 public:
  explicit ThresholdDetector(ThresholdParams p = {}) : p_(p) {}
  std::vector<int64_t> process(int64_t frame, const cv::Mat& bgr) override;
  std::vector<int64_t> process_average(int64_t frame, double average);
  std::vector<int64_t> post_process(int64_t last_frame) override;
  double last_metric() const override { return last_avg_; }
  const char* name() const override { return "threshold"; }

 private:
  ThresholdParams p_;
  bool processed_ = false;
  int64_t last_scene_cut_ = 0;
  bool last_fade_in_ = true;  // type of the last fade: in (true) or out (false)
  int64_t last_fade_frame_ = 0;
  double last_avg_ = 0;
};

}  // namespace facecat::video
