// Landmarks and descriptors for faces whose boxes someone else drew: regions imported from digiKam or from
// another tool's XMP, where facecat's detector found no face. The box is taken as it is (display frame, original
// pixels); dlib's 68-point predictor places the landmarks inside it, and the aligned chip is described by the
// same network as facecat-detect's faces, so the imported face clusters and matches like any other.
// Separate from FaceAnalyzer (which finds faces itself): it loads the predictor and the network, no detector.
#pragma once
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "face/analyzer.hpp"
#include "util/result.hpp"

namespace facecat::face {

class RegionDescriber {
 public:
  // cfg.model and cfg.shape_predictor as for FaceAnalyzer (the encoder is always loaded).
  static Result<RegionDescriber> create(const AnalyzerConfig& cfg);
  RegionDescriber(RegionDescriber&&) noexcept;
  RegionDescriber& operator=(RegionDescriber&&) noexcept;
  ~RegionDescriber();

  // One Face per box, in order: box, size, landmarks, descriptor, blur, frontalness (score 0). Boxes are clamped
  // to the image; an empty one is an Error. The image header is checked against max_pixels before decoding.
  Result<std::vector<Face>> describe(const std::string& image_bytes, const std::vector<Box>& boxes,
                                     int64_t max_pixels = 100'000'000);
  std::string model_id() const;

 private:
  struct Impl;
  explicit RegionDescriber(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace facecat::face
