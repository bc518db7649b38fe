// Internal to lib/face: face-api.js's TinyFaceDetector (a Tiny-YOLOv2 with depthwise-separable convolutions,
// weights tiny_face_detector_model.bin from @vladmandic/face-api) rebuilt layer by layer in OpenCV DNN.
// Architecture (face-api.js src/tinyYolov2/TinyYolov2Base.ts, runMobilenet with isFirstLayerConv2d):
//   (RGB − [117.001, 114.697, 97.404]) / 255
//   conv0 3×3 3→16 'valid' + bias, leaky 0.1, maxpool 2×2/2 'same'
//   conv1..conv5: depthwise 3×3 (pad 1) + pointwise 1×1 + bias, leaky 0.1; maxpool 2×2/2 'same' after conv1..4,
//                 2×2/1 'same' after conv5
//   conv8 1×1 512→25 + bias: 5 anchors × (x, y, w, h, score) per 32-px cell
//   box: centre ((col + σ(x))·32, (row + σ(y))·32), size (e^w·aw·32, e^h·ah·32), score σ(s); NMS at IoU 0.4.
// The net is fully convolutional: it runs on the whole image at any size (padded to a multiple of 32).
#pragma once
#include <filesystem>
#include <memory>
#include <vector>

#include <opencv2/core.hpp>

#include "util/result.hpp"

namespace facecat::face::detail {

struct TinyDetection {
  float left = 0, top = 0, right = 0, bottom = 0;  // in the input image's pixels
  float score = 0;
};

struct TinyWeights;

// One OpenCV DNN network instance: not thread-safe; a copy builds its own network from the shared weights.
class TinyDetector {
 public:
  static Result<TinyDetector> load(const std::filesystem::path& manifest, const std::filesystem::path& bin);
  TinyDetector(const TinyDetector& o);
  TinyDetector& operator=(const TinyDetector& o);
  TinyDetector(TinyDetector&&) noexcept;
  TinyDetector& operator=(TinyDetector&&) noexcept;
  ~TinyDetector();

  // Faces in a BGR image, after non-maximum suppression (IoU 0.4), best first.
  Result<std::vector<TinyDetection>> detect(const cv::Mat& bgr, float min_score);
  // The raw output (1×25×H/32×W/32) for an RGB input already the net's size (tests compare it with face-api.js).
  Result<cv::Mat> forward_raw(const cv::Mat& bgr);

 private:
  struct Impl;
  explicit TinyDetector(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

std::filesystem::path tiny_detector_bin_path(const std::filesystem::path& models_dir);
std::filesystem::path tiny_detector_manifest_path(const std::filesystem::path& models_dir);

}  // namespace facecat::face::detail
