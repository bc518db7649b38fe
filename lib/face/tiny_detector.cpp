#include "face/tiny_detector.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <opencv2/dnn.hpp>
#include <opencv2/imgproc.hpp>
#include <string>

#include "face/tfjs.hpp"

namespace facecat::face::detail {
namespace fs = std::filesystem;

namespace {

// face-api.js src/tinyFaceDetector/const.ts
constexpr float kMeanRgb[3] = {117.001f, 114.697f, 97.404f};
constexpr float kAnchors[5][2] = {
    {1.603231f, 2.094468f}, {6.041143f, 7.080126f}, {2.882459f, 3.518061f}, {4.266906f, 5.178857f}, {9.041765f, 10.66308f}};
constexpr float kIou = 0.4f;
constexpr int kCell = 32;
constexpr size_t kMaxStripPixels = 900'000;  // per forward pass (memory)
constexpr int kStripOverlap = 128;
constexpr size_t kKeepPixels = 200'000;  // inputs up to this size keep their buffers for the next call
constexpr int kChannels[7] = {3, 16, 32, 64, 128, 256, 512};  // TinyFaceDetector's filterSizes

float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }

}  // namespace

struct TinyWeights {
  std::map<std::string, TfTensor> t;
  const TfTensor* get(const std::string& name, std::vector<long> shape, std::string& err) const {
    auto it = t.find(name);
    if (it == t.end()) {
      err = "tiny face detector weights: no tensor " + name;
      return nullptr;
    }
    if (it->second.shape != shape) {
      err = "tiny face detector weights: unexpected shape of " + name;
      return nullptr;
    }
    return &it->second;
  }
};

struct TinyDetector::Impl {
  std::shared_ptr<const TinyWeights> w;
  cv::dnn::Net net;
};

namespace {

// tfjs [h][w][in][out] -> OpenCV [out][in][h][w]
cv::Mat conv_weights(const TfTensor& t) {
  const int kh = int(t.shape[0]), kw = int(t.shape[1]), in = int(t.shape[2]), out = int(t.shape[3]);
  const int sz[4] = {out, in, kh, kw};
  cv::Mat m(4, sz, CV_32F);
  float* d = m.ptr<float>();
  for (int y = 0; y < kh; ++y)
    for (int x = 0; x < kw; ++x)
      for (int i = 0; i < in; ++i)
        for (int o = 0; o < out; ++o)
          d[((size_t(o) * in + i) * kh + y) * kw + x] = t.data[((size_t(y) * kw + x) * in + i) * out + o];
  return m;
}
// depthwise tfjs [h][w][c][1] -> OpenCV grouped conv [c][1][h][w]
cv::Mat depthwise_weights(const TfTensor& t) {
  const int kh = int(t.shape[0]), kw = int(t.shape[1]), c = int(t.shape[2]);
  const int sz[4] = {c, 1, kh, kw};
  cv::Mat m(4, sz, CV_32F);
  float* d = m.ptr<float>();
  for (int y = 0; y < kh; ++y)
    for (int x = 0; x < kw; ++x)
      for (int i = 0; i < c; ++i) d[(size_t(i) * kh + y) * kw + x] = t.data[(size_t(y) * kw + x) * c + i];
  return m;
}
cv::Mat bias(const TfTensor& t) {
  cv::Mat b(1, int(t.data.size()), CV_32F);
  std::copy(t.data.begin(), t.data.end(), b.ptr<float>());
  return b;
}

struct NetBuilder {
  cv::dnn::Net net;
  int n = 0;
  int add(const char* type, cv::dnn::LayerParams& lp, int prev) {
    const int id = net.addLayer(std::string(type) + std::to_string(n++), type, lp);
    net.connect(prev, 0, id, 0);
    return id;
  }
  int conv(int prev, int k, int pad, int out, int group, cv::Mat w, cv::Mat b) {
    cv::dnn::LayerParams lp;
    lp.set("kernel_size", k);
    lp.set("stride", 1);
    lp.set("pad", pad);
    lp.set("num_output", out);
    lp.set("group", group);
    lp.set("bias_term", !b.empty());
    lp.blobs = {w};
    if (!b.empty()) lp.blobs.push_back(b);
    return add("Convolution", lp, prev);
  }
  int leaky(int prev) {
    cv::dnn::LayerParams lp;
    lp.set("negative_slope", 0.1f);
    return add("ReLU", lp, prev);
  }
  int maxpool(int prev, int stride) {  // tf.maxPool([2, 2], stride, 'same'): pads bottom/right only when needed
    cv::dnn::LayerParams lp;
    lp.set("pool", "max");
    lp.set("kernel_size", 2);
    lp.set("stride", stride);
    lp.set("pad_mode", "SAME");
    return add("Pooling", lp, prev);
  }
};

Result<cv::dnn::Net> build_net(const TinyWeights& W) {
  std::string err;
  NetBuilder B;
  const TfTensor* f0 = W.get("conv0/filters", {3, 3, 3, 16}, err);
  const TfTensor* b0 = W.get("conv0/bias", {16}, err);
  if (!f0 || !b0) return make_error(err);
  int x = B.conv(0, 3, 0, 16, 1, conv_weights(*f0), bias(*b0));  // 'valid'
  x = B.leaky(x);
  x = B.maxpool(x, 2);
  for (int i = 1; i <= 5; ++i) {
    const int in = kChannels[i], out = kChannels[i + 1];
    const std::string p = "conv" + std::to_string(i) + "/";
    const TfTensor* dw = W.get(p + "depthwise_filter", {3, 3, in, 1}, err);
    const TfTensor* pw = W.get(p + "pointwise_filter", {1, 1, in, out}, err);
    const TfTensor* b = W.get(p + "bias", {out}, err);
    if (!dw || !pw || !b) return make_error(err);
    x = B.conv(x, 3, 1, in, in, depthwise_weights(*dw), cv::Mat());
    x = B.conv(x, 1, 0, out, 1, conv_weights(*pw), bias(*b));
    x = B.leaky(x);
    x = B.maxpool(x, i < 5 ? 2 : 1);
  }
  const TfTensor* f8 = W.get("conv8/filters", {1, 1, 512, 25}, err);
  const TfTensor* b8 = W.get("conv8/bias", {25}, err);
  if (!f8 || !b8) return make_error(err);
  B.conv(x, 1, 0, 25, 1, conv_weights(*f8), bias(*b8));
  B.net.setInputsNames({"data"});
  B.net.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
  B.net.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
  return std::move(B.net);
}

}  // namespace

TinyDetector::TinyDetector(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TinyDetector::TinyDetector(const TinyDetector& o) : impl_(std::make_unique<Impl>()) {
  impl_->w = o.impl_->w;
  impl_->net = build_net(*impl_->w).value();  // built once already from the same weights
}
TinyDetector& TinyDetector::operator=(const TinyDetector& o) {
  if (this != &o) *this = TinyDetector(o);
  return *this;
}
TinyDetector::TinyDetector(TinyDetector&&) noexcept = default;
TinyDetector& TinyDetector::operator=(TinyDetector&&) noexcept = default;
TinyDetector::~TinyDetector() = default;

Result<TinyDetector> TinyDetector::load(const fs::path& manifest, const fs::path& bin) {
  auto ts = read_tfjs(manifest, bin);
  if (!ts) return ts.error();
  auto w = std::make_shared<TinyWeights>();
  for (auto& t : *ts) w->t.emplace(t.name, std::move(t));
  auto impl = std::make_unique<Impl>();
  try {
    auto net = build_net(*w);
    if (!net) return net.error();
    impl->net = std::move(*net);
  } catch (const cv::Exception& e) {
    return make_error(std::string("cannot build the tiny face detector in OpenCV DNN: ") + e.what());
  }
  impl->w = std::move(w);
  return TinyDetector(std::move(impl));
}

Result<cv::Mat> TinyDetector::forward_raw(const cv::Mat& bgr) {
  if (bgr.empty() || bgr.type() != CV_8UC3) return make_error("tiny face detector: expected an 8-bit BGR image");
  try {
    cv::Mat blob = cv::dnn::blobFromImage(bgr, 1.0 / 255, cv::Size(), cv::Scalar(kMeanRgb[0], kMeanRgb[1], kMeanRgb[2]),
                                          /*swapRB=*/true, /*crop=*/false, CV_32F);
    impl_->net.setInput(blob);
    return impl_->net.forward().clone();
  } catch (const cv::Exception& e) {
    return make_error(std::string("tiny face detector failed: ") + e.what());
  }
}

Result<std::vector<TinyDetection>> TinyDetector::detect(const cv::Mat& bgr, float min_score) {
  std::vector<TinyDetection> out;
  if (bgr.cols < kCell || bgr.rows < kCell) return out;
  // Pad to a multiple of 32 (bottom/right, black: face-api pads to a square the same way).
  const int W = (bgr.cols + kCell - 1) / kCell * kCell, H = (bgr.rows + kCell - 1) / kCell * kCell;
  cv::Mat in = bgr;
  if (W != bgr.cols || H != bgr.rows)
    cv::copyMakeBorder(bgr, in, 0, H - bgr.rows, 0, W - bgr.cols, cv::BORDER_CONSTANT, cv::Scalar(0, 0, 0));
  // Large inputs go through in strips across their long side that overlap by more than the largest face the net
  // finds well (~100 px): OpenCV DNN holds every layer's output, ~140 bytes per input pixel.
  const bool wide = W >= H;
  const int len = wide ? W : H, across = wide ? H : W;
  int strip = len;
  if (size_t(W) * H > kMaxStripPixels)
    strip = std::max(kStripOverlap + 2 * kCell, int(kMaxStripPixels / size_t(across)) / kCell * kCell);
  const float logit = std::log(min_score / (1 - min_score));
  std::vector<cv::Rect2d> boxes;
  std::vector<float> scores;
  for (int p0 = 0;; p0 += strip - kStripOverlap) {
    const int p1 = std::min(len, p0 + strip);
    const cv::Rect roi = wide ? cv::Rect(p0, 0, p1 - p0, H) : cv::Rect(0, p0, W, p1 - p0);
    const int x0 = roi.x, y0 = roi.y;
    auto raw = forward_raw(in(roi));
    if (!raw) return raw.error();
    const cv::Mat& R = *raw;
    if (R.dims != 4 || R.size[1] != 25) return make_error("tiny face detector: unexpected output shape");
    const int rows = R.size[2], cols = R.size[3];
    const float cy = float(roi.height) / rows, cx = float(roi.width) / cols;  // 32
    const size_t plane = size_t(rows) * cols;
    const float* d = R.ptr<float>();
    for (int a = 0; a < 5; ++a) {
      const float* tx = d + plane * size_t(a * 5 + 0);
      const float* ty = d + plane * size_t(a * 5 + 1);
      const float* tw = d + plane * size_t(a * 5 + 2);
      const float* th = d + plane * size_t(a * 5 + 3);
      const float* ts = d + plane * size_t(a * 5 + 4);
      for (int r = 0; r < rows; ++r)
        for (int c = 0; c < cols; ++c) {
          const size_t i = size_t(r) * cols + c;
          if (ts[i] <= logit) continue;
          const float x = (c + sigmoid(tx[i])) * cx + x0, y = (r + sigmoid(ty[i])) * cy + y0;
          const float w = std::exp(tw[i]) * kAnchors[a][0] * cx, h = std::exp(th[i]) * kAnchors[a][1] * cy;
          boxes.emplace_back(x - w / 2, y - h / 2, w, h);
          scores.push_back(sigmoid(ts[i]));
        }
    }
    if (p1 >= len) break;
  }
  // OpenCV DNN keeps every layer's output allocated for the next forward pass: a pass at the smallest size
  // gives that memory back before the rest of the pipeline (full-resolution decode, descriptors) runs.
  if (size_t(W) * H > kKeepPixels) (void)forward_raw(cv::Mat(kCell, kCell, CV_8UC3, cv::Scalar(0, 0, 0)));
  std::vector<int> keep;
  cv::dnn::NMSBoxes(boxes, scores, min_score, kIou, keep);
  std::sort(keep.begin(), keep.end(), [&](int a, int b) { return scores[size_t(a)] > scores[size_t(b)]; });
  for (int k : keep) {
    const auto& b = boxes[size_t(k)];
    out.push_back({float(b.x), float(b.y), float(b.x + b.width), float(b.y + b.height), scores[size_t(k)]});
  }
  return out;
}

fs::path tiny_detector_bin_path(const fs::path& models_dir) {
  return models_dir / "face-api" / "model" / "tiny_face_detector_model.bin";
}
fs::path tiny_detector_manifest_path(const fs::path& models_dir) {
  return models_dir / "face-api" / "model" / "tiny_face_detector_model-weights_manifest.json";
}

}  // namespace facecat::face::detail
