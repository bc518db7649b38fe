#include "face/dnn_resnet.hpp"

#include <cmath>
#include <cstring>
#include <opencv2/dnn.hpp>
#include <string>

namespace facecat::face::detail {
namespace {

// dlib's input_rgb_image_sized: (x - mean) / 256 per R, G, B plane.
constexpr float kMean[3] = {122.782f, 117.001f, 104.298f};
constexpr int kChip = 150;

struct Builder {
  cv::dnn::Net net;
  int n = 0;
  std::string name(const char* what) { return std::string(what) + std::to_string(n++); }

  // conv + folded affine (+ relu) after `prev`; returns the id of the last layer.
  int conv(int prev, const ConvUnit& u, bool relu) {
    cv::dnn::LayerParams lp;
    lp.set("kernel_h", u.k);
    lp.set("kernel_w", u.k);
    lp.set("stride_h", u.stride);
    lp.set("stride_w", u.stride);
    lp.set("pad_h", u.pad);
    lp.set("pad_w", u.pad);
    lp.set("num_output", u.out);
    lp.set("bias_term", true);
    const int sz[4] = {u.out, u.in, u.k, u.k};
    cv::Mat w(4, sz, CV_32F), b(1, u.out, CV_32F);
    const size_t per = size_t(u.in) * u.k * u.k;
    for (int o = 0; o < u.out; ++o) {
      const float g = u.gamma[size_t(o)];
      float* dst = w.ptr<float>() + per * size_t(o);
      for (size_t i = 0; i < per; ++i) dst[i] = g * u.w[per * size_t(o) + i];
      const float bias = u.b.empty() ? 0.0f : u.b[size_t(o)];
      b.at<float>(0, o) = g * bias + u.beta[size_t(o)];
    }
    lp.blobs = {w, b};
    const std::string nm = name("conv");
    int id = net.addLayer(nm, "Convolution", lp);
    net.connect(prev, 0, id, 0);
    if (relu) id = relu_after(id);
    return id;
  }
  int relu_after(int prev) {
    cv::dnn::LayerParams lp;
    const int id = net.addLayer(name("relu"), "ReLU", lp);
    net.connect(prev, 0, id, 0);
    return id;
  }
  int pool(int prev, const char* kind, int k, int s) {
    cv::dnn::LayerParams lp;
    lp.set("pool", kind);
    lp.set("kernel_size", k);
    lp.set("stride", s);
    lp.set("pad", 0);
    lp.set("ceil_mode", false);
    const int id = net.addLayer(name("pool"), "Pooling", lp);
    net.connect(prev, 0, id, 0);
    return id;
  }
  // zero-pads channels and bottom/right
  int pad(int prev, int channels, int rows, int cols) {
    if (channels == 0 && rows == 0 && cols == 0) return prev;
    cv::dnn::LayerParams lp;
    const int p[8] = {0, 0, 0, channels, 0, rows, 0, cols};
    lp.set("paddings", cv::dnn::DictValue::arrayInt(p, 8));
    lp.set("value", 0.0);
    const int id = net.addLayer(name("pad"), "Padding", lp);
    net.connect(prev, 0, id, 0);
    return id;
  }
  int sum(int a, int b) {
    cv::dnn::LayerParams lp;
    lp.set("operation", "sum");
    const int id = net.addLayer(name("sum"), "Eltwise", lp);
    net.connect(a, 0, id, 0);
    net.connect(b, 0, id, 1);
    return id;
  }
};

}  // namespace

struct DnnResNet::Impl {
  std::shared_ptr<const ResNetWeights> w;
  cv::dnn::Net net;
  cv::Mat blob;
};

DnnResNet::DnnResNet(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DnnResNet::DnnResNet(const DnnResNet& o) : impl_(std::move(build(o.impl_->w)->impl_)) {}
DnnResNet& DnnResNet::operator=(const DnnResNet& o) {
  if (this != &o) impl_ = std::move(build(o.impl_->w)->impl_);
  return *this;
}
DnnResNet::DnnResNet(DnnResNet&&) noexcept = default;
DnnResNet& DnnResNet::operator=(DnnResNet&&) noexcept = default;
DnnResNet::~DnnResNet() = default;

Result<DnnResNet> DnnResNet::build(std::shared_ptr<const ResNetWeights> w) {
  if (!w || w->convs.size() < 3 || (w->convs.size() - 1) % 2 != 0)
    return make_error("face net for OpenCV DNN: unexpected layer count");
  if (w->fc.size() != 256u * kDescriptorDims) return make_error("face net for OpenCV DNN: unexpected fc size");
  for (const auto& u : w->convs)
    if (u.w.size() != size_t(u.out) * u.in * u.k * u.k || u.gamma.size() != size_t(u.out) ||
        u.beta.size() != size_t(u.out) || (!u.b.empty() && u.b.size() != size_t(u.out)))
      return make_error("face net for OpenCV DNN: inconsistent conv weights");
  auto impl = std::make_unique<Impl>();
  impl->w = w;
  try {
    Builder B;
    // the input layer is id 0
    const auto& c0 = w->convs[0];
    int x = B.conv(0, c0, true);
    int hw = (kChip + 2 * c0.pad - c0.k) / c0.stride + 1;
    x = B.pool(x, "max", 3, 2);
    hw = (hw - 3) / 2 + 1;
    int ch = c0.out;
    for (size_t i = 1; i + 1 < w->convs.size(); i += 2) {
      const auto& a = w->convs[i];
      const auto& b = w->convs[i + 1];
      int y = B.conv(x, a, true);
      y = B.conv(y, b, false);
      const int hw_b = (((hw + 2 * a.pad - a.k) / a.stride + 1) + 2 * b.pad - b.k) / b.stride + 1;
      int skip = x, hw_s = hw;
      if (a.stride == 2) {  // residual_down: the skip path is a 2×2 average pool
        skip = B.pool(x, "ave", 2, 2);
        hw_s = hw / 2;
      }
      const int hw_out = std::max(hw_b, hw_s), ch_out = std::max(b.out, ch);
      y = B.pad(y, ch_out - b.out, hw_out - hw_b, hw_out - hw_b);
      skip = B.pad(skip, ch_out - ch, hw_out - hw_s, hw_out - hw_s);
      x = B.relu_after(B.sum(y, skip));
      hw = hw_out;
      ch = ch_out;
    }
    if (ch != 256) return make_error("face net for OpenCV DNN: last block has " + std::to_string(ch) + " channels");
    {
      cv::dnn::LayerParams lp;
      lp.set("pool", "ave");
      lp.set("global_pooling", true);
      const int id = B.net.addLayer(B.name("gap"), "Pooling", lp);
      B.net.connect(x, 0, id, 0);
      x = id;
    }
    {
      cv::dnn::LayerParams lp;
      lp.set("num_output", kDescriptorDims);
      lp.set("bias_term", false);
      cv::Mat fc(kDescriptorDims, 256, CV_32F);  // OpenCV: [out][in]
      for (int i = 0; i < 256; ++i)
        for (int o = 0; o < kDescriptorDims; ++o) fc.at<float>(o, i) = w->fc[size_t(i) * kDescriptorDims + size_t(o)];
      lp.blobs = {fc};
      const int id = B.net.addLayer(B.name("fc"), "InnerProduct", lp);
      B.net.connect(x, 0, id, 0);
    }
    B.net.setInputsNames({"data"});
    B.net.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
    B.net.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
    impl->net = std::move(B.net);
  } catch (const cv::Exception& e) {
    return make_error(std::string("cannot build the face net in OpenCV DNN: ") + e.what());
  }
  return DnnResNet(std::move(impl));
}

Result<std::vector<Descriptor>> DnnResNet::describe(const std::vector<const Chip*>& chips) {
  std::vector<Descriptor> out;
  if (chips.empty()) return out;
  const int n = int(chips.size());
  const int sz[4] = {n, 3, kChip, kChip};
  impl_->blob.create(4, sz, CV_32F);
  float* dst = impl_->blob.ptr<float>();
  const size_t plane = size_t(kChip) * kChip;
  for (int i = 0; i < n; ++i) {
    const Chip& c = *chips[size_t(i)];
    if (c.size != kChip || c.rgb.size() != plane * 3) return make_error("malformed face chip " + std::to_string(i));
    float* d = dst + size_t(i) * 3 * plane;
    const uint8_t* s = c.rgb.data();
    for (size_t p = 0; p < plane; ++p)
      for (int k = 0; k < 3; ++k) d[size_t(k) * plane + p] = (float(s[3 * p + size_t(k)]) - kMean[k]) / 256.0f;
  }
  cv::Mat res;
  try {
    impl_->net.setInput(impl_->blob);
    res = impl_->net.forward();
  } catch (const cv::Exception& e) {
    return make_error(std::string("OpenCV DNN face net failed: ") + e.what());
  }
  res = res.reshape(1, n);
  if (res.cols != kDescriptorDims) return make_error("OpenCV DNN face net: unexpected output size");
  out.resize(size_t(n));
  for (int i = 0; i < n; ++i) std::memcpy(out[size_t(i)].data(), res.ptr<float>(i), sizeof(float) * kDescriptorDims);
  return out;
}

}  // namespace facecat::face::detail
