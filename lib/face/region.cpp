#include "face/region.hpp"

#include <dlib/image_processing.h>
#include <dlib/image_transforms.h>
#include <dlib/opencv/cv_image.h>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "face/chip.hpp"
#include "face/image.hpp"
#include "face/image_decode.hpp"

namespace facecat::face {

struct RegionDescriber::Impl {
  dlib::shape_predictor sp;
  std::optional<Encoder> enc;
};

RegionDescriber::RegionDescriber(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RegionDescriber::RegionDescriber(RegionDescriber&&) noexcept = default;
RegionDescriber& RegionDescriber::operator=(RegionDescriber&&) noexcept = default;
RegionDescriber::~RegionDescriber() = default;

std::string RegionDescriber::model_id() const { return impl_->enc->model_id(); }

Result<RegionDescriber> RegionDescriber::create(const AnalyzerConfig& cfg) {
  auto impl = std::make_unique<Impl>();
  std::error_code ec;
  if (!std::filesystem::is_regular_file(cfg.shape_predictor, ec))
    return make_error("shape predictor not found: " + cfg.shape_predictor.string() +
                      " (Debian package libdlib-data; setting faces.shape_predictor)");
  try {
    dlib::deserialize(cfg.shape_predictor.string()) >> impl->sp;
  } catch (const std::exception& e) {
    return make_error("cannot load shape predictor " + cfg.shape_predictor.string() + ": " + e.what());
  }
  if (impl->sp.num_parts() != 68)
    return make_error("shape predictor " + cfg.shape_predictor.string() + " has " +
                      std::to_string(impl->sp.num_parts()) + " points, not 68");
  auto enc = load_encoder(cfg.model);
  if (!enc) return enc.error();
  impl->enc.emplace(std::move(*enc));
  return RegionDescriber(std::move(impl));
}

Result<std::vector<Face>> RegionDescriber::describe(const std::string& bytes, const std::vector<Box>& boxes,
                                                    int64_t max_pixels) {
  auto h = check_image_header(bytes, max_pixels);
  if (!h) return h.error();
  auto dec = detail::decode_image(bytes, *h, 1);
  if (!dec) return dec.error();
  const cv::Mat& img = dec->bgr;
  dlib::cv_image<dlib::bgr_pixel> dimg(img);
  std::vector<Face> out;
  std::vector<Chip> chips;
  for (const auto& b0 : boxes) {
    Box b{std::clamp(b0.left, 0, img.cols), std::clamp(b0.top, 0, img.rows), std::clamp(b0.right, 0, img.cols),
          std::clamp(b0.bottom, 0, img.rows)};
    if (b.width() <= 0 || b.height() <= 0)
      return make_error("region " + std::to_string(b0.left) + "," + std::to_string(b0.top) + " " +
                        std::to_string(b0.width()) + "x" + std::to_string(b0.height()) + " lies outside the " +
                        std::to_string(img.cols) + "x" + std::to_string(img.rows) + " image");
    Face f;
    f.box = b;
    f.size = std::max(b.width(), b.height());
    dlib::rectangle rr(b.left, b.top, b.right - 1, b.bottom - 1);
    dlib::full_object_detection sh = impl_->sp(dimg, rr);
    for (unsigned long i = 0; i < sh.num_parts(); ++i)
      f.landmarks.push_back({float(sh.part(i).x()), float(sh.part(i).y())});
    f.frontalness = frontalness_of(f.landmarks);  // as FaceAnalyzer computes it
    chips.push_back(extract_chip(dimg, sh, Encoder::chip_size(), 0.25, &f.blur));
    out.push_back(std::move(f));
  }
  if (!chips.empty()) {
    auto d = impl_->enc->describe(chips);
    if (!d) return d.error();
    for (size_t i = 0; i < out.size(); ++i) {
      out[i].descriptor = (*d)[i];
      out[i].has_descriptor = true;
    }
  }
  return out;
}

}  // namespace facecat::face
