// The per-image face pipeline: header check, (reduced) decode with EXIF orientation, HOG detection at the scale
// that min_face implies, 68 landmarks, aligned chips, descriptors and quality figures.
// One FaceAnalyzer per thread (the detector, predictor and network are not thread-safe): create() once (~1.5 s
// of model loading), then copy it for every further thread (cheap).
#pragma once
#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "face/model.hpp"
#include "util/result.hpp"

namespace facecat::face {

struct DetectParams {
  // The smallest face to find, in original-image pixels, is max(min_face, min_face_fraction × the long side):
  // 80 px for photos up to 4000 px, 120 px for a 6000 px photo. It sets the detection scale: the image is
  // scanned so that this size becomes 72 px, where dlib's HOG finds 99% of faces (bench/README.md).
  int min_face = 80;           // absolute floor, in original-image pixels
  double min_face_fraction = 0.02;  // of the image's long side; 0 = use min_face alone
  int upsample = 0;            // extra ×2 steps on top of the min_face scale (face_recognition's number_of_times_to_upsample)
  int64_t max_pixels = 100'000'000;  // refuse larger images before decoding
  bool landmarks = true;       // false: boxes only (no landmarks, chips, descriptors)
  bool describe = true;        // compute descriptors (needs landmarks)
  int chip_size = 150;
  double chip_padding = 0.25;
  double crop_margin = 0.3;    // crop = box grown by this fraction of its size on each side
  // >1: each descriptor is the mean over this many randomly jittered copies of its chip (face/jitter.hpp; a fixed
  // seed, so the same chip gives the same descriptor). ~N× the describe stage's time.
  int jitter = 1;
  bool reduced_decode = true;  // JPEG: decode at 1/2, 1/4 or 1/8 when min_face allows it
  // JPEG: decode only the regions around faces when the later stages need a finer decode than detection made
  // (the same pixels; false: whole decodes, for tests that compare the two)
  bool region_decode = true;
  bool keep_crops = false;     // fill Face::crop_jpeg (for write_crop)
  bool keep_chips = false;     // keep Face::chip (for write_chip)
  int crop_max_side = 1024;    // crops larger than this are scaled down
  double adjust_threshold = 0.0;  // added to HOG's decision threshold (negative: more faces, more false ones)
  // "hog": dlib's HOG over the whole image at the min_face scale.
  // "tiny+hog": face-api's tiny face detector (OpenCV DNN) over the whole image at a coarser scale proposes
  // faces; each proposal is confirmed by HOG on a small crop around it, so boxes keep HOG's geometry (which the
  // landmark model expects). The same faces as "hog" on the test photos (a few boxes one pyramid step apart), for
  // 1.1x less CPU on a 6000x3376 photo and 1.6x less on 12-MP photos (bench/README.md).
  // "ultraface": UltraFace RFB-320 (a small CNN, OpenCV DNN) over the whole image at a coarse scale (the smallest
  // face at 28 px); HOG confirms each face on a small crop (HOG's boxes for the landmark model). Keeping faces HOG
  // cannot confirm (Face::hog_box false) is built but off: too many false ones (ultraface_detector.cpp).
  // lib/face/detector.hpp lists the detectors.
  std::string detector = "hog";
};

struct Point { float x = 0, y = 0; };
// 0..1 from 68 landmarks: the nose tip between the jaw sides, measured along the eye axis (roll-invariant);
// 1 = frontal. 0 when the eyes coincide.
float frontalness_of(const std::vector<Point>& landmarks);

// In the displayed frame (EXIF orientation applied), in original-image pixels.
struct Box {
  int left = 0, top = 0, right = 0, bottom = 0;  // right/bottom exclusive
  int width() const { return right - left; }
  int height() const { return bottom - top; }
};

struct Face {
  Box box;
  double score = 0;          // HOG detection score (higher is surer; 0 is the default threshold)
  int size = 0;              // max(box width, height)
  std::vector<Point> landmarks;  // 68 points (iBUG 300-W order), empty when landmarks are off
  bool has_descriptor = false;
  Descriptor descriptor{};
  float blur = 0;            // variance of the Laplacian on the gray chip (lower = blurrier; < ~50 is soft)
  float frontalness = 0;     // 0..1 from the landmarks: 1 = nose centred between the jaw sides
  bool hog_box = true;       // false: a CNN face HOG did not confirm (score is then the CNN's, 0..1; off for now)
  std::string crop_jpeg;     // when DetectParams::keep_crops
  Chip chip;                 // when DetectParams::keep_chips
};

struct ImageFaces {
  std::string format;        // from the content
  int width = 0, height = 0; // displayed frame, full resolution
  int min_face = 0;          // the effective smallest face (DetectParams), in original-image pixels
  double detect_scale = 0;   // scan scale of HOG's first pyramid level relative to the full-resolution image
  int detect_reduction = 1;  // JPEG DCT scaling used for detection (1 = full decode)
  int landmark_reduction = 1;
  std::string model_id;      // Encoder::model_id() of the descriptors (empty when none were computed)
  std::vector<Face> faces;   // sorted by box (top, then left)
  int proposals = 0;         // tiny+hog, ultraface: faces the CNN proposed (before HOG confirmed them)
  int unconfirmed = 0;       // ultraface: faces kept although HOG did not confirm them
  double decode_ms = 0, detect_ms = 0, landmarks_ms = 0, describe_ms = 0;
  std::vector<std::string> warnings;  // the decoder's complaints about data it decoded anyway (corrupt JPEG data)
};

struct AnalyzerConfig {
  ModelSpec model;
  std::filesystem::path shape_predictor = "/usr/share/dlib/shape_predictor_68_face_landmarks.dat";
  bool load_encoder = true;  // false: detection and landmarks only
  // Load face-api's tiny face detector from model.models_dir (needed by DetectParams::detector "tiny+hog"):
  // "auto" when its files are there, "yes" (an Error when missing), "no".
  std::string load_tiny = "auto";
  // Load UltraFace (DetectParams::detector "ultraface") from model.models_dir: "auto", "yes" or "no", as load_tiny.
  std::string load_ultraface = "auto";
};

class FaceAnalyzer {
 public:
  static Result<FaceAnalyzer> create(const AnalyzerConfig& cfg);
  FaceAnalyzer(const FaceAnalyzer&);  // a copy for another thread
  FaceAnalyzer& operator=(const FaceAnalyzer&);
  FaceAnalyzer(FaceAnalyzer&&) noexcept;
  FaceAnalyzer& operator=(FaceAnalyzer&&) noexcept;
  ~FaceAnalyzer();

  Result<ImageFaces> analyze(const std::filesystem::path& image, const DetectParams& p);
  Result<ImageFaces> analyze_bytes(const std::string& bytes, const DetectParams& p);

  // Empty when created without an encoder.
  std::string model_id() const;
  Encoder* encoder();

 private:
  struct Impl;
  explicit FaceAnalyzer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// <folder>/<face_id>.jpg from Face::crop_jpeg (analyze with keep_crops), written atomically.
Result<std::filesystem::path> write_crop(const Face& f, const std::filesystem::path& folder, const std::string& face_id);
// <folder>/<face_id>.chip.png from Face::chip (analyze with keep_chips), written atomically.
Result<std::filesystem::path> write_chip(const Face& f, const std::filesystem::path& folder, const std::string& face_id);

}  // namespace facecat::face
