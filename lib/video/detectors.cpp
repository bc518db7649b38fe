#include "video/detectors.hpp"

#include <algorithm>
#include <cmath>

#include <opencv2/imgproc.hpp>

namespace facecat::video {

// ---- FlashFilter ---------------------------------------------------------------------------------------------
std::vector<int64_t> FlashFilter::filter(int64_t frame, bool above) {
  if (length_ <= 0) return above ? std::vector<int64_t>{frame} : std::vector<int64_t>{};
  if (!have_last_) {
    have_last_ = true;
    last_above_ = frame;
  }
  const bool min_length_met = frame - last_above_ >= length_;
  if (mode_ == Mode::Suppress) {
    if (!(above && min_length_met)) return {};
    last_above_ = frame;
    return {frame};
  }
  // Merge. The last frame above the threshold always advances, so a merged burst ends on its last cut.
  if (above) last_above_ = frame;
  if (merge_triggered_) {
    if (min_length_met && !above && last_above_ - merge_start_ >= length_) {
      merge_triggered_ = false;
      return {last_above_};
    }
    return {};
  }
  if (!above) return {};
  if (min_length_met) {
    merge_enabled_ = true;  // merging only starts after the first cut
    return {frame};
  }
  if (merge_enabled_) {
    merge_triggered_ = true;
    merge_start_ = frame;
  }
  return {};
}

// ---- scoring -------------------------------------------------------------------------------------------------
double ContentScorer::score(const cv::Mat& bgr) {
  CV_Assert(bgr.type() == CV_8UC3);
  cv::cvtColor(bgr, hsv_, cv::COLOR_BGR2HSV);
  if (!have_prev_ || prev_hsv_.size() != hsv_.size()) {
    std::swap(hsv_, prev_hsv_);
    have_prev_ = true;
    return 0.0;
  }
  cv::Mat diff;
  cv::absdiff(hsv_, prev_hsv_, diff);
  cv::Scalar mean = cv::mean(diff);  // per channel: H, S, V
  std::swap(hsv_, prev_hsv_);
  const double wsum = std::abs(w_.hue) + std::abs(w_.sat) + std::abs(w_.lum);
  if (wsum <= 0) return 0.0;
  return (w_.hue * mean[0] + w_.sat * mean[1] + w_.lum * mean[2]) / wsum;
}

double frame_average(const cv::Mat& bgr) {
  cv::Scalar s = cv::mean(bgr);
  int cn = bgr.channels();
  double t = 0;
  for (int c = 0; c < cn; ++c) t += s[c];
  return cn ? t / cn : 0.0;
}

// ---- ContentDetector -----------------------------------------------------------------------------------------
std::vector<int64_t> ContentDetector::process(int64_t frame, const cv::Mat& bgr) {
  return process_score(frame, scorer_.score(bgr));
}

std::vector<int64_t> ContentDetector::process_score(int64_t frame, double score) {
  last_ = score;
  return filter_.filter(frame, score >= p_.threshold);
}

// ---- AdaptiveDetector ----------------------------------------------------------------------------------------
std::vector<int64_t> AdaptiveDetector::process(int64_t frame, const cv::Mat& bgr) {
  return process_score(frame, scorer_.score(bgr));
}

std::vector<int64_t> AdaptiveDetector::process_score(int64_t frame, double score) {
  if (!have_last_cut_) {
    have_last_cut_ = true;
    last_cut_ = frame;
  }
  const size_t w = static_cast<size_t>(std::max(1, p_.window_width));
  const size_t required = 1 + 2 * w;
  buf_.emplace_back(frame, score);
  if (buf_.size() < required) return {};
  if (buf_.size() > required) buf_.erase(buf_.begin(), buf_.end() - static_cast<std::ptrdiff_t>(required));
  const auto [target_frame, target_score] = buf_[w];
  double sum = 0;
  for (size_t i = 0; i < buf_.size(); ++i)
    if (i != w) sum += buf_[i].second;
  const double avg = sum / (2.0 * static_cast<double>(w));
  double ratio = 0.0;
  if (std::abs(avg) >= 0.00001) ratio = std::min(target_score / avg, 255.0);
  else if (target_score >= p_.min_content_val) ratio = 255.0;
  last_ratio_ = ratio;
  const bool threshold_met = ratio >= p_.adaptive_threshold && target_score >= p_.min_content_val;
  const bool min_length_met = frame - last_cut_ >= p_.min_scene_len;
  if (threshold_met && min_length_met) {
    last_cut_ = target_frame;
    return {target_frame};
  }
  return {};
}

// ---- ThresholdDetector ---------------------------------------------------------------------------------------
std::vector<int64_t> ThresholdDetector::process(int64_t frame, const cv::Mat& bgr) {
  return process_average(frame, frame_average(bgr));
}

std::vector<int64_t> ThresholdDetector::process_average(int64_t frame, double avg) {
  last_avg_ = avg;
  std::vector<int64_t> cuts;
  if (!processed_) {
    processed_ = true;
    last_scene_cut_ = frame;
    last_fade_frame_ = 0;
    last_fade_in_ = !(avg < p_.threshold);
    return cuts;
  }
  if (last_fade_in_ && avg < p_.threshold) {
    // Faded out of a scene: wait for the fade-in.
    last_fade_in_ = false;
    last_fade_frame_ = frame;
  } else if (!last_fade_in_ && avg >= p_.threshold) {
    if (frame - last_scene_cut_ >= p_.min_scene_len) {
      const int64_t f_out = last_fade_frame_;
      const double bias = std::clamp(p_.fade_bias, -1.0, 1.0);
      // Python's int() truncates toward zero; both operands are non-negative here.
      const int64_t split = static_cast<int64_t>(
          static_cast<double>(frame + f_out + static_cast<int64_t>(bias * static_cast<double>(frame - f_out))) / 2.0);
      cuts.push_back(split);
      last_scene_cut_ = frame;
    }
    last_fade_in_ = true;
    last_fade_frame_ = frame;
  }
  return cuts;
}

std::vector<int64_t> ThresholdDetector::post_process(int64_t last_frame) {
  if (processed_ && !last_fade_in_ && p_.add_final_scene && last_frame - last_scene_cut_ >= p_.min_scene_len)
    return {last_fade_frame_};
  return {};
}

}  // namespace facecat::video
