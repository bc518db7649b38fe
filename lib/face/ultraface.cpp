#include "face/ultraface.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <opencv2/dnn.hpp>
#include <opencv2/imgproc.hpp>
#include <string>

namespace facecat::face::detail {
namespace fs = std::filesystem;

namespace {
constexpr int kStrides[4] = {8, 16, 32, 64};
const std::vector<float> kMinBoxes[4] = {{10, 16, 24}, {32, 48}, {64, 96}, {128, 192, 256}};
constexpr float kCenterVariance = 0.1f, kSizeVariance = 0.2f, kIou = 0.3f;
constexpr int kMinInput = 16;

float iou(const UfDetection& a, const UfDetection& b) {
  const float iw = std::min(a.right, b.right) - std::max(a.left, b.left),
              ih = std::min(a.bottom, b.bottom) - std::max(a.top, b.top);
  if (iw <= 0 || ih <= 0) return 0;
  const float i = iw * ih;
  return i / ((a.right - a.left) * (a.bottom - a.top) + (b.right - b.left) * (b.bottom - b.top) - i);
}
}  // namespace

// OpenCV DNN sizes every layer's buffers for the input shape at the first forward pass and re-sizes them whenever
// the shape changes: alternating between the levels of one image (1600x1216, 320x256, 64x64 for a 12-MP photo)
// cost 80-130 ms per image at the first level. So each input shape gets its own network, kept while it is one of
// the kMaxShapes most recently used (a folder of photos needs one shape per orientation and level).
// A network's buffers take ~85 bytes per input pixel (128 MB at 1600x960): a network for an input over kBigInput
// pixels is kept after an image only when the image before used that shape too (a folder of same-size photos),
// so that one large photo does not hold them through the later stages (the peak RSS of bench-detect-big).
constexpr size_t kMaxShapes = 4;
constexpr double kMaxCachedPixels = 6e6;  // inputs of the cached networks together, beyond the one in use
constexpr int kBigInput = 1 << 20;

struct UltraFace::Impl {
  std::shared_ptr<const std::vector<uchar>> bytes;
  cv::dnn::Net net;  // the first one read (checks the model; used for the first shape)
  std::vector<std::pair<cv::Size, cv::dnn::Net>> by_shape;  // most recently used first
  std::vector<cv::Size> used_now, used_before;  // shapes of this image and of the one before
  void end_image() {
    by_shape.erase(std::remove_if(by_shape.begin(), by_shape.end(),
                                  [&](const auto& e) {
                                    return e.first.area() > kBigInput &&
                                           std::find(used_before.begin(), used_before.end(), e.first) ==
                                               used_before.end();
                                  }),
                   by_shape.end());
    used_before.swap(used_now);
    used_now.clear();
  }
  static Result<cv::dnn::Net> read(const std::vector<uchar>& b) {
    try {
      cv::dnn::Net n = cv::dnn::readNetFromONNX(b);
      n.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
      n.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
      return n;
    } catch (const cv::Exception& e) {
      return make_error(std::string("cannot load UltraFace in OpenCV DNN: ") + e.what());
    }
  }
  Result<cv::dnn::Net*> for_shape(cv::Size sz) {
    used_now.push_back(sz);
    for (size_t i = 0; i < by_shape.size(); ++i)
      if (by_shape[i].first == sz) {
        std::rotate(by_shape.begin(), by_shape.begin() + long(i), by_shape.begin() + long(i) + 1);
        return &by_shape.front().second;
      }
    cv::dnn::Net n;
    if (!net.empty()) {
      n = net;  // the network read at load time serves the first shape
      net = cv::dnn::Net();
    } else {
      auto r = read(*bytes);
      if (!r) return r.error();
      n = *r;
    }
    by_shape.insert(by_shape.begin(), {sz, n});
    double px = 0;
    size_t keep = 1;
    for (; keep < by_shape.size() && keep < kMaxShapes; ++keep) {
      px += double(by_shape[keep].first.area());
      if (px > kMaxCachedPixels) break;
    }
    by_shape.resize(keep);
    return &by_shape.front().second;
  }
};

UltraFace::UltraFace(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
UltraFace::UltraFace(const UltraFace& o) : impl_(std::make_unique<Impl>()) {
  impl_->bytes = o.impl_->bytes;
  impl_->net = Impl::read(*impl_->bytes).value();  // read once already from the same bytes
}
UltraFace& UltraFace::operator=(const UltraFace& o) {
  if (this != &o) *this = UltraFace(o);
  return *this;
}
UltraFace::UltraFace(UltraFace&&) noexcept = default;
UltraFace& UltraFace::operator=(UltraFace&&) noexcept = default;
UltraFace::~UltraFace() = default;

Result<UltraFace> UltraFace::load(const fs::path& onnx) {
  std::ifstream in(onnx, std::ios::binary);
  if (!in) return make_error("cannot read " + onnx.string());
  auto b = std::make_shared<std::vector<uchar>>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  auto impl = std::make_unique<Impl>();
  auto net = Impl::read(*b);
  if (!net) return make_error(onnx.string() + ": " + net.error().message);
  impl->net = std::move(*net);
  impl->bytes = std::move(b);
  return UltraFace(std::move(impl));
}

Result<std::vector<UfDetection>> UltraFace::detect_raw(const cv::Mat& bgr, float min_score) {
  std::vector<UfDetection> out;
  if (bgr.empty() || bgr.type() != CV_8UC3) return make_error("UltraFace: expected an 8-bit BGR image");
  if (bgr.cols < kMinInput || bgr.rows < kMinInput) return out;
  // Padded (bottom/right, black) to a multiple of 64 unless it is the net's own 320×240: then every stride
  // divides the input and the priors' centres ((i + 0.5) / cells) lie on the cells' centres. Without padding
  // they drift by up to half a stride across the image (a face's box 4-9% of its size off to the top left).
  const bool native = bgr.cols == 320 && bgr.rows == 240;
  const int W = native ? 320 : (bgr.cols + 63) / 64 * 64, H = native ? 240 : (bgr.rows + 63) / 64 * 64;
  cv::Mat in = bgr;
  if (W != bgr.cols || H != bgr.rows)
    cv::copyMakeBorder(bgr, in, 0, H - bgr.rows, 0, W - bgr.cols, cv::BORDER_CONSTANT, cv::Scalar(0, 0, 0));
  std::vector<cv::Mat> outs;
  try {
    cv::Mat blob = cv::dnn::blobFromImage(in, 1.0 / 128, cv::Size(), cv::Scalar(127, 127, 127), /*swapRB=*/true,
                                          /*crop=*/false, CV_32F);
    auto net = impl_->for_shape(cv::Size(W, H));
    if (!net) return net.error();
    (*net)->setInput(blob);
    (*net)->forward(outs, (*net)->getUnconnectedOutLayersNames());
  } catch (const cv::Exception& e) {
    return make_error(std::string("UltraFace failed: ") + e.what());
  }
  // the outputs by their last dimension: scores (2) and raw locations (4)
  const cv::Mat *scores = nullptr, *locs = nullptr;
  for (const auto& m : outs)
    if (m.dims == 3 && m.size[2] == 2) scores = &m;
    else if (m.dims == 3 && m.size[2] == 4) locs = &m;
  if (!scores || !locs) return make_error("UltraFace: unexpected outputs (is this the cut model?)");
  size_t n = 0;
  for (int k = 0; k < 4; ++k)
    n += size_t((W + kStrides[k] - 1) / kStrides[k]) * size_t((H + kStrides[k] - 1) / kStrides[k]) * kMinBoxes[k].size();
  if (size_t(scores->size[1]) != n || size_t(locs->size[1]) != n)
    return make_error("UltraFace: " + std::to_string(scores->size[1]) + " outputs for " + std::to_string(n) + " priors");
  const float* sc = scores->ptr<float>();
  const float* lc = locs->ptr<float>();
  size_t idx = 0;
  for (int k = 0; k < 4; ++k) {
    const int fw = (W + kStrides[k] - 1) / kStrides[k], fh = (H + kStrides[k] - 1) / kStrides[k];
    for (int j = 0; j < fh; ++j)
      for (int i = 0; i < fw; ++i)
        for (float mb : kMinBoxes[k]) {
          const float s = sc[idx * 2 + 1];
          if (s > min_score) {
            // priors clipped to 0..1 as upstream's generate_priors does (a 256 px prior on a 240 px input)
            const float pcx = std::min((i + 0.5f) / fw, 1.0f), pcy = std::min((j + 0.5f) / fh, 1.0f),
                        pw = std::min(mb / W, 1.0f), ph = std::min(mb / H, 1.0f);
            const float* l = lc + idx * 4;
            const float cx = pcx + l[0] * kCenterVariance * pw, cy = pcy + l[1] * kCenterVariance * ph;
            const float w = pw * std::exp(l[2] * kSizeVariance), h = ph * std::exp(l[3] * kSizeVariance);
            out.push_back({(cx - w / 2) * W, (cy - h / 2) * H, (cx + w / 2) * W, (cy + h / 2) * H, s});
          }
          ++idx;
        }
  }
  return out;
}

Result<std::vector<UfDetection>> UltraFace::detect(const cv::Mat& bgr, float min_score) {
  auto raw = detect_raw(bgr, min_score);
  if (!raw) return raw;
  std::stable_sort(raw->begin(), raw->end(), [](const auto& a, const auto& b) { return a.score > b.score; });
  std::vector<UfDetection> out;
  for (const auto& d : *raw)
    if (std::none_of(out.begin(), out.end(), [&](const UfDetection& k) { return iou(k, d) > kIou; })) out.push_back(d);
  return out;
}

void UltraFace::end_image() { impl_->end_image(); }

fs::path ultraface_model_path(const fs::path& models_dir) { return models_dir / "ultraface" / "rfb320-cut.onnx"; }
fs::path ultraface_shipped_path(const fs::path& models_dir) { return models_dir / "ultraface" / "fr_detect.onnx"; }

}  // namespace facecat::face::detail
