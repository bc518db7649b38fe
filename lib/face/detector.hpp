// Internal to lib/face: the one interface every face detector implements, and the decodes the analysis stages
// share. FaceAnalyzer::analyze_bytes (analyzer.cpp) runs named stages: header → decode → detect → landmarks
// (chips, crops, quality) → describe. The detect stage is one of:
//   hog_detector.cpp       "hog": dlib's HOG over the whole image at the min_face scale
//   tiny_hog_detector.cpp  "tiny+hog": face-api's tiny detector proposes, HOG confirms on crops
//   ultraface_detector.cpp "ultraface": UltraFace RFB-320 (ultraface.cpp, OpenCV DNN) finds, HOG confirms on crops
// A detector says at which scale it wants the image (the decode stage picks the JPEG DCT reduction from that),
// gets that decode, and returns face boxes in full-resolution pixels of the displayed frame. One instance per
// thread: clone() makes another for a copy of the analyzer.
#pragma once
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "face/analyzer.hpp"
#include "face/image_decode.hpp"

namespace facecat::face::detail {

// A face is described from a decode where it is at least this many pixels (a 150 px chip with padding 0.25 is
// then made without upsampling).
constexpr double kChipFacePx = 100.0;
// The landmark stage decodes each face's box grown by this × its size on each side (at least crop_margin): the
// landmark model reads pixels around its landmarks, up to ~0.4 × the box beyond it (found by the test that
// compares region and whole decodes on turned faces; 0.3 was not enough). A chip (padding 0.25) of a turned face
// may reach further: the stage then decodes what that chip covers in a second pass.
constexpr double kRegionMargin = 0.5;
// confirm_with_hog decodes this much around each predicted box (its HOG crop needs kVerifyMargin = 0.5): enough
// for the landmark stage's region of the HOG box it confirms, so that one pass over the JPEG serves both (on the
// bench photo 0.75 left 5 of 24 faces to a second pass, 1.0 none).
constexpr double kConfirmDecodeMargin = 1.0;

struct DRect {
  double l = 0, t = 0, r = 0, b = 0;
  double w() const { return r - l; }
  double h() const { return b - t; }
  double cx() const { return (l + r) / 2; }
  double cy() const { return (t + b) / 2; }
};

struct Found {
  DRect box;           // full-resolution pixels; HOG's geometry unless `hog_box` is false
  double score = 0;    // HOG's score (0 = its default threshold) for HOG boxes; the CNN's for the others
  bool hog_box = true; // false: a CNN face that HOG did not confirm, its box mapped onto HOG's geometry
};

// The decodes of one image, shared by the stages so that no reduction is decoded twice (decodes.cpp).
class Decodes {
 public:
  Decodes(const std::string& bytes, const ImageHeader& hdr, bool regions = true)
      : bytes_(bytes), hdr_(hdr), regions_ok_(regions) {}
  // The coarsest decode made so far whose reduction is at most `want` (1, 2, 4, 8), else a new decode at `want`.
  // Pointers stay valid until clear().
  Result<const Decoded*> at_most(int want);

  // Makes the pixels of `rects` (full-resolution display-frame pixels) available at a reduction of at most `want`
  // for view(): from a whole decode made before when there is one; else, for a JPEG, one pass that decodes only
  // the rects not yet covered (decode_jpeg_regions: no full-resolution decode for a few faces); else a whole decode.
  // full_width × full_height is the displayed frame (from the detection decode).
  Result<void> need(int want, const std::vector<cv::Rect>& rects, int full_width, int full_height);
  // The pixels around full-resolution rect r at a reduction of at most `want`, after need() covered r.
  // Const: safe to call from several threads.
  struct View {
    cv::Mat img;               // the whole decode or a patch (no copy)
    double sx = 1, sy = 1;     // img pixels per full-resolution pixel
    double ox = 0, oy = 0;     // img pixel = full pixel × s − o
    int reduction = 1;
  };
  Result<View> view(int want, const cv::Rect& r) const;
  void clear() {
    v_.clear();
    patches_.clear();
  }

 private:
  const Decoded* whole(int want) const;
  Result<void> whole_decode(int want);
  const Patch* patch(int want, const cv::Rect& r) const;
  const std::string& bytes_;
  const ImageHeader& hdr_;
  std::vector<std::unique_ptr<Decoded>> v_;
  std::vector<Patch> patches_;
  cv::Rect full_;         // the displayed frame, full resolution (from need())
  int orientation_ = 0;  // EXIF orientation for region decodes (0 = not read yet)
  bool regions_ok_ = true;  // false: whole decodes (asked for, or after a region decode failed)
};

// Full-resolution box [l, r) × [t, b) grown by m on each side, in the pixels of view v (x × sx − ox), outward to
// whole pixels; the default view is full resolution itself. Regions to decode and crops to cut both use it.
inline cv::Rect grown_rect(double l, double t, double r, double b, double m, const Decodes::View& v = Decodes::View{}) {
  const int x0 = int(std::floor((l - m) * v.sx - v.ox)), y0 = int(std::floor((t - m) * v.sy - v.oy));
  return {x0, y0, int(std::ceil((r + m) * v.sx - v.ox)) - x0, int(std::ceil((b + m) * v.sy - v.oy)) - y0};
}

struct DetectInput {
  const Decoded& image;  // the detection decode: 1/image.reduction of the full frame
  Decodes& decodes;      // for finer decodes (HOG confirmation); the landmark stage reuses them
  int min_face = 0;      // the effective smallest face, full-resolution pixels
  double scale = 0;      // what Detector::scale() returned
  int full_width = 0, full_height = 0;
  const DetectParams& params;
};

struct DetectOutput {
  std::vector<Found> faces;
  int proposals = 0;  // for detectors that propose and confirm: the proposals before confirmation
  int unconfirmed = 0;  // faces kept although HOG did not confirm them
};

class Detector {
 public:
  virtual ~Detector() = default;
  // The scale (relative to the full-resolution frame) at which detect() wants the image; the decode stage uses
  // JPEG DCT scaling when a reduced decode is close enough to it.
  virtual double scale(int min_face, const DetectParams& p) const = 0;
  virtual Result<DetectOutput> detect(const DetectInput& in) = 0;
  virtual std::unique_ptr<Detector> clone() const = 0;
};

struct HogModel;
// HOG's scan scale for a smallest face of min_face full-resolution pixels (with `upsample` ×2 steps on top).
double hog_scale(int min_face, int upsample);
std::shared_ptr<const HogModel> make_hog_model();
std::unique_ptr<Detector> make_hog_detector(std::shared_ptr<const HogModel> hog);

// Confirms predicted HOG boxes (full-resolution) by HOG on a crop around each, scanned on the levels of the `hog`
// scan's own pyramid (scale s_hog) where the face is 88–106 px, so that boxes come in the full scan's sizes.
// Returns the confirmed HOG boxes after dlib's non-maximum suppression; confirmed[i] says whether prediction i
// led to a kept box. `det_reduction` is the detection decode's reduction (the crops come from a decode fine
// enough for the smallest prediction, at most that). extra_adjust[i], when given, is added to HOG's threshold on
// prediction i's crop.
Result<std::vector<std::pair<DRect, double>>> confirm_with_hog(const HogModel& hog, const std::vector<DRect>& predicted,
                                                              Decodes& decodes, int det_reduction, double s_hog,
                                                              int full_w, int full_h, double adjust,
                                                              std::vector<bool>* confirmed = nullptr,
                                                              const std::vector<double>* extra_adjust = nullptr);
// dlib's non-maximum suppression (its overlap tester) over scored boxes, best first.
std::vector<std::pair<DRect, double>> hog_nms(const HogModel& hog, std::vector<std::pair<DRect, double>> all);

class TinyDetector;
std::unique_ptr<Detector> make_tiny_hog_detector(const TinyDetector& tiny, std::shared_ptr<const HogModel> hog);
class UltraFace;
// hog_confirm false: the CNN's boxes mapped onto HOG's geometry by the fitted transform alone (for measurements:
// analyzer detector name "ultraface:fit", not a pipeline value)
std::unique_ptr<Detector> make_ultraface_detector(const UltraFace& net, std::shared_ptr<const HogModel> hog,
                                                  bool hog_confirm = true);

}  // namespace facecat::face::detail
