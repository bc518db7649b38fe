// Internal to lib/face: UltraFace RFB-320 (Linzaer/Ultra-Light-Fast-Generic-Face-Detector-1MB, MIT) in OpenCV DNN.
// The model is npm faceplugin@1.0.3's package/model/fr_detect.onnx (docs: ../shared/docs/face-detector.md), cut by
// scripts/setup before its built-in box decoding (which only works at 320×240 in OpenCV 4.6), so that it runs on
// the whole image at any size; the decoding is done here:
//   input RGB, (x − 127) / 128, NCHW; outputs softmax scores [1,N,2] and raw locations [1,N,4]
//   priors: strides 8, 16, 32, 64 over ceil(W/s) × ceil(H/s) cells, min sizes {10,16,24} {32,48} {64,96}
//   {128,192,256} px, clipped to 0..1 of the input; centre = prior_c + loc·0.1·prior_wh, size = prior_wh·exp(loc·0.2); score > min_score,
//   then NMS at IoU 0.3 (upstream's defaults).
#pragma once
#include <filesystem>
#include <memory>
#include <vector>

#include <opencv2/core.hpp>

#include "util/result.hpp"

namespace facecat::face::detail {

struct UfDetection {
  float left = 0, top = 0, right = 0, bottom = 0;  // in the input image's pixels
  float score = 0;
};

// One OpenCV DNN network: not thread-safe; a copy reads its own network from the shared model bytes.
class UltraFace {
 public:
  static Result<UltraFace> load(const std::filesystem::path& onnx);
  UltraFace(const UltraFace& o);
  UltraFace& operator=(const UltraFace& o);
  UltraFace(UltraFace&&) noexcept;
  UltraFace& operator=(UltraFace&&) noexcept;
  ~UltraFace();

  // Faces in a BGR image of any size (one forward pass over the whole image), after NMS, best first.
  Result<std::vector<UfDetection>> detect(const cv::Mat& bgr, float min_score);
  // After the last detect() of an image: frees the buffers of large inputs that the image before did not use too.
  void end_image();
  // Faces before NMS with score > min_score (for tests that compare the decoding with the shipped model).
  Result<std::vector<UfDetection>> detect_raw(const cv::Mat& bgr, float min_score);

 private:
  struct Impl;
  explicit UltraFace(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// <models_dir>/ultraface/rfb320-cut.onnx: the cut model scripts/setup makes; fr_detect.onnx next to it is the
// model as shipped (decoded boxes at 320×240 only; tests compare with it).
std::filesystem::path ultraface_model_path(const std::filesystem::path& models_dir);
std::filesystem::path ultraface_shipped_path(const std::filesystem::path& models_dir);

}  // namespace facecat::face::detail
