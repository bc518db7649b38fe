// The only translation unit that instantiates dlib's face recognition ResNet (anet_type): ~1 min and 1.6 GB to
// compile. Everything else talks to it through face/model.hpp.
#include "face/model.hpp"
#include "core/models_dir.hpp"

#include <sys/stat.h>

#include <dlfcn.h>

#include <cstring>
#include <dlib/dnn.h>
#include <fstream>
#include <cmath>
#include <functional>
#include <optional>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <sstream>

#include "face/dnn_resnet.hpp"
#include "face/tfjs.hpp"
#include "util/atomic_file.hpp"
#include "util/hash.hpp"

namespace facecat::face {
namespace {
namespace fs = std::filesystem;

// dlib's examples/dnn_face_recognition_ex.cpp, verbatim.
template <template <int, template <typename> class, int, typename> class block, int N,
          template <typename> class BN, typename SUBNET>
using residual = dlib::add_prev1<block<N, BN, 1, dlib::tag1<SUBNET>>>;
template <template <int, template <typename> class, int, typename> class block, int N,
          template <typename> class BN, typename SUBNET>
using residual_down =
    dlib::add_prev2<dlib::avg_pool<2, 2, 2, 2, dlib::skip1<dlib::tag2<block<N, BN, 2, dlib::tag1<SUBNET>>>>>>;
template <int N, template <typename> class BN, int stride, typename SUBNET>
using block = BN<dlib::con<N, 3, 3, 1, 1, dlib::relu<BN<dlib::con<N, 3, 3, stride, stride, SUBNET>>>>>;
template <int N, typename SUBNET>
using ares = dlib::relu<residual<block, N, dlib::affine, SUBNET>>;
template <int N, typename SUBNET>
using ares_down = dlib::relu<residual_down<block, N, dlib::affine, SUBNET>>;
template <typename SUBNET> using alevel0 = ares_down<256, SUBNET>;
template <typename SUBNET> using alevel1 = ares<256, ares<256, ares_down<256, SUBNET>>>;
template <typename SUBNET> using alevel2 = ares<128, ares<128, ares_down<128, SUBNET>>>;
template <typename SUBNET> using alevel3 = ares<64, ares<64, ares<64, ares_down<64, SUBNET>>>>;
template <typename SUBNET> using alevel4 = ares<32, ares<32, ares<32, SUBNET>>>;
using anet_type = dlib::loss_metric<dlib::fc_no_bias<
    128, dlib::avg_pool_everything<alevel0<alevel1<alevel2<alevel3<alevel4<dlib::max_pool<
             3, 3, 2, 2, dlib::relu<dlib::affine<dlib::con<32, 7, 7, 2, 2, dlib::input_rgb_image_sized<150>>>>>>>>>>>>>;

template <typename T> struct is_con : std::false_type {};
template <long a, long b, long c, int d, int e, int f, int g>
struct is_con<dlib::con_<a, b, c, d, e, f, g>> : std::true_type {};

using detail::TfTensor;
using detail::read_tfjs;

Result<void> fill_net(anet_type& net, const std::vector<TfTensor>& ts) {
  // affine_ layers are default-constructed in FC mode: the face net needs per-channel (CONV) mode.
  dlib::visit_computational_layers(net, [](auto& l) {
    if constexpr (std::is_same_v<std::decay_t<decltype(l)>, dlib::affine_>) l = dlib::affine_(dlib::CONV_MODE);
  });
  {  // one dummy forward pass so that every layer allocates its parameters
    dlib::matrix<dlib::rgb_pixel> dummy(150, 150);
    dummy = dlib::rgb_pixel(0, 0, 0);
    net(dummy);
  }
  // visit_computational_layers goes from output to input; collect, then assign input to output.
  std::vector<std::function<std::string(size_t&)>> fns;
  dlib::visit_computational_layers(net, [&](auto& l) {
    using L = std::decay_t<decltype(l)>;
    if constexpr (std::is_same_v<L, dlib::affine_>) {
      fns.push_back([&l, &ts](size_t& i) -> std::string {
        if (i + 2 > ts.size()) return "too few tensors";
        const auto& g = ts[i++];
        const auto& b = ts[i++];
        auto gg = l.get_gamma();
        auto bb = l.get_beta();
        if (gg.size() != g.data.size() || bb.size() != b.data.size()) return "size mismatch at " + g.name;
        std::copy(g.data.begin(), g.data.end(), gg.host());
        std::copy(b.data.begin(), b.data.end(), bb.host());
        return {};
      });
    } else if constexpr (std::is_same_v<L, dlib::fc_<128, dlib::FC_NO_BIAS>>) {
      fns.push_back([&l, &ts](size_t& i) -> std::string {
        if (i + 1 > ts.size()) return "too few tensors";
        const auto& w = ts[i++];
        auto& p = l.get_layer_params();
        if (p.size() != w.data.size()) return "size mismatch at " + w.name;
        std::copy(w.data.begin(), w.data.end(), p.host());  // [in][out] in both
        return {};
      });
    } else if constexpr (is_con<L>::value) {
      fns.push_back([&l, &ts](size_t& i) -> std::string {
        if (i + 2 > ts.size()) return "too few tensors";
        const auto& f = ts[i++];
        const auto& b = ts[i++];
        if (f.shape.size() != 4) return "bad filter shape at " + f.name;
        const long H = f.shape[0], W = f.shape[1], I = f.shape[2], O = f.shape[3];
        auto& p = l.get_layer_params();
        if (p.size() != f.data.size() + b.data.size() || static_cast<long>(b.data.size()) != O)
          return "size mismatch at " + f.name;
        float* d = p.host();
        // tfjs [h][w][in][out] -> dlib [out][in][h][w]; bias appended. Both are cross-correlations: no flip.
        for (long o = 0; o < O; ++o)
          for (long c = 0; c < I; ++c)
            for (long y = 0; y < H; ++y)
              for (long x = 0; x < W; ++x) d[((o * I + c) * H + y) * W + x] = f.data[((y * W + x) * I + c) * O + o];
        std::copy(b.data.begin(), b.data.end(), d + f.data.size());
        return {};
      });
    }
  });
  std::reverse(fns.begin(), fns.end());
  size_t i = 0;
  for (auto& fn : fns) {
    auto err = fn(i);
    if (!err.empty()) return make_error("face-api weights do not fit the network: " + err);
  }
  if (i != ts.size()) return make_error("face-api weights do not fit the network: " + std::to_string(ts.size() - i) +
                                        " tensors left over");
  net.clean();
  return {};
}

Result<void> save_net(anet_type& net, const fs::path& out) {
  std::ostringstream os;
  try {
    dlib::serialize(net, os);
  } catch (const std::exception& e) {
    return make_error(std::string("cannot serialize the network: ") + e.what());
  }
  // The cache holds public weights, not biometric data: readable by every user of the models folder whatever
  // privacy.mode says (a reader who cannot use it would convert the weights again on every start).
  std::error_code ec;
  if (out.has_parent_path() && !fs::exists(out.parent_path(), ec)) {
    fs::create_directories(out.parent_path(), ec);
    ::chmod(out.parent_path().c_str(), 0755);
  }
  FACECAT_TRY(util::write_file_atomic(out, os.str()));
  ::chmod(out.c_str(), 0644);
  return {};
}

Result<void> load_net(anet_type& net, const fs::path& dat) {
  try {
    dlib::deserialize(dat.string()) >> net;
  } catch (const std::exception& e) {
    return make_error("cannot load face recognition model " + dat.string() + ": " + e.what());
  }
  return {};
}

// The weights of a loaded network, in forward order, for the OpenCV DNN build (dnn_resnet.cpp).
Result<std::shared_ptr<detail::ResNetWeights>> extract_weights(anet_type& net) {
  auto w = std::make_shared<detail::ResNetWeights>();
  std::vector<std::function<std::string()>> fns;  // collected output -> input, run input -> output
  dlib::visit_computational_layers(net, [&](auto& l) {
    using L = std::decay_t<decltype(l)>;
    if constexpr (std::is_same_v<L, dlib::affine_>) {
      fns.push_back([&l, w]() -> std::string {
        if (w->convs.empty()) return "affine layer before any conv";
        auto& u = w->convs.back();
        const auto g = l.get_gamma();
        const auto b = l.get_beta();
        if (g.size() != size_t(u.out) || b.size() != size_t(u.out)) return "affine size mismatch";
        u.gamma.assign(g.host(), g.host() + g.size());
        u.beta.assign(b.host(), b.host() + b.size());
        return {};
      });
    } else if constexpr (std::is_same_v<L, dlib::fc_<128, dlib::FC_NO_BIAS>>) {
      fns.push_back([&l, w]() -> std::string {
        const auto& p = l.get_layer_params();
        w->fc.assign(p.host(), p.host() + p.size());
        return {};
      });
    } else if constexpr (is_con<L>::value) {
      fns.push_back([&l, w]() -> std::string {
        const auto& p = l.get_layer_params();
        detail::ConvUnit u;
        u.out = int(l.num_filters());
        u.k = int(l.nr());
        if (l.nc() != l.nr() || l.stride_y() != l.stride_x() || l.padding_y() != l.padding_x())
          return "non-square conv";
        u.stride = int(l.stride_y());
        u.pad = int(l.padding_y());
        const size_t per_in = size_t(u.out) * size_t(u.k) * size_t(u.k);
        const bool bias = (p.size() - size_t(u.out)) % per_in == 0;
        const size_t nw = bias ? p.size() - size_t(u.out) : p.size();
        if (nw % per_in != 0) return "conv size mismatch";
        u.in = int(nw / per_in);
        u.w.assign(p.host(), p.host() + nw);  // dlib: [out][in][h][w], then the bias
        if (bias) u.b.assign(p.host() + nw, p.host() + p.size());
        w->convs.push_back(std::move(u));
        return {};
      });
    }
  });
  std::reverse(fns.begin(), fns.end());
  for (auto& fn : fns)
    if (auto err = fn(); !err.empty()) return make_error("cannot read the face net's weights: " + err);
  for (const auto& u : w->convs)
    if (u.gamma.empty()) return make_error("cannot read the face net's weights: a conv without affine");
  return w;
}

// A fixed, face-free test pattern: enough to exercise every weight.
Chip test_chip() {
  Chip c;
  c.size = 150;
  c.rgb.resize(150 * 150 * 3);
  for (int y = 0; y < 150; ++y)
    for (int x = 0; x < 150; ++x)
      for (int k = 0; k < 3; ++k)
        c.rgb[size_t((y * 150 + x) * 3 + k)] =
            uint8_t(127.5 + 127.5 * std::sin(0.05 * x * (k + 1) + 0.07 * y + 0.9 * k) * std::cos(0.03 * (x - y)));
  return c;
}

}  // namespace

struct Encoder::Impl {
  ModelInfo info;
  anet_type net;
  std::optional<detail::DnnResNet> dnn;  // set: describe() runs OpenCV DNN
  std::string backend = "dlib";
  std::vector<Descriptor> describe_dlib(std::vector<dlib::matrix<dlib::rgb_pixel>>& imgs) {
    std::vector<Descriptor> out;
    std::vector<dlib::matrix<float, 0, 1>> d = net(imgs, imgs.size());
    for (const auto& v : d) {
      Descriptor a{};
      for (int j = 0; j < kDescriptorDims; ++j) a[static_cast<size_t>(j)] = v(j);
      out.push_back(a);
    }
    return out;
  }
  Result<void> setup_backend(const std::string& backend);
};

// Builds the OpenCV DNN twin of the dlib net and keeps it when it agrees with dlib (ModelSpec::backend).
Result<void> Encoder::Impl::setup_backend(const std::string& backend) {
  Impl& impl = *this;
  if (backend == "dlib") return {};
  if (backend != "auto" && backend != "opencv")
    return make_error("unknown face descriptor backend '" + backend + "' (auto, dlib or opencv)");
  auto fail = [&](const std::string& why) -> Result<void> {
    if (backend == "opencv") return make_error(why);
    spdlog::warn("{}; using dlib for descriptors", why);
    return {};
  };
  auto w = extract_weights(impl.net);
  if (!w) return fail(w.error().message);
  auto dnn = detail::DnnResNet::build(*w);
  if (!dnn) return fail(dnn.error().message);
  const Chip c = test_chip();
  auto a = dnn->describe({&c});
  if (!a) return fail(a.error().message);
  dlib::matrix<dlib::rgb_pixel> m(150, 150);
  std::memcpy(&m(0, 0), c.rgb.data(), c.rgb.size());
  std::vector<dlib::matrix<dlib::rgb_pixel>> imgs{m};
  auto b = impl.describe_dlib(imgs);
  float worst = 0;
  for (int j = 0; j < kDescriptorDims; ++j)
    worst = std::max(worst, std::abs((*a)[0][size_t(j)] - b[0][size_t(j)]));
  if (!(worst <= 1e-4f))
    return fail("the OpenCV DNN face net differs from dlib's by " + std::to_string(worst) + " (more than 1e-4)");
  spdlog::debug("face descriptors by OpenCV DNN (max difference from dlib on the test chip {:.2e})", worst);
  impl.dnn.emplace(std::move(*dnn));
  impl.backend = "opencv";
  return {};
}

Encoder::Encoder(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Encoder::Encoder(const Encoder& o) : impl_(std::make_unique<Impl>(*o.impl_)) {}
Encoder& Encoder::operator=(const Encoder& o) {
  if (this != &o) impl_ = std::make_unique<Impl>(*o.impl_);
  return *this;
}
Encoder::Encoder(Encoder&&) noexcept = default;
Encoder& Encoder::operator=(Encoder&&) noexcept = default;
Encoder::~Encoder() = default;
const ModelInfo& Encoder::info() const { return impl_->info; }
const std::string& Encoder::backend() const { return impl_->backend; }

Result<std::vector<Descriptor>> Encoder::describe(const std::vector<Chip>& chips, size_t batch) {
  std::vector<Descriptor> out;
  out.reserve(chips.size());
  if (batch == 0) batch = 1;
  std::vector<dlib::matrix<dlib::rgb_pixel>> imgs;
  if (impl_->dnn) {
    std::vector<Chip> resized;  // only chips that are not chip_size() square
    resized.reserve(chips.size());
    std::vector<const Chip*> ptrs;
    for (size_t start = 0; start < chips.size(); start += batch) {
      const size_t end = std::min(chips.size(), start + batch);
      ptrs.clear();
      for (size_t k = start; k < end; ++k) {
        const Chip& c = chips[k];
        if (c.size <= 0 || c.rgb.size() != static_cast<size_t>(c.size) * c.size * 3)
          return make_error("malformed face chip " + std::to_string(k));
        if (c.size == chip_size()) {
          ptrs.push_back(&c);
          continue;
        }
        dlib::matrix<dlib::rgb_pixel> m(c.size, c.size), r(chip_size(), chip_size());
        std::memcpy(&m(0, 0), c.rgb.data(), c.rgb.size());
        dlib::resize_image(m, r);
        Chip rc;
        rc.size = chip_size();
        rc.rgb.resize(size_t(chip_size()) * chip_size() * 3);
        std::memcpy(rc.rgb.data(), &r(0, 0), rc.rgb.size());
        resized.push_back(std::move(rc));
        ptrs.push_back(&resized.back());
      }
      auto d = impl_->dnn->describe(ptrs);
      if (!d) return d.error();
      out.insert(out.end(), d->begin(), d->end());
    }
    return out;
  }
  for (size_t start = 0; start < chips.size(); start += batch) {
    const size_t end = std::min(chips.size(), start + batch);
    imgs.clear();
    for (size_t k = start; k < end; ++k) {
      const Chip& c = chips[k];
      if (c.size <= 0 || c.rgb.size() != static_cast<size_t>(c.size) * c.size * 3)
        return make_error("malformed face chip " + std::to_string(k));
      dlib::matrix<dlib::rgb_pixel> m(c.size, c.size);
      std::memcpy(&m(0, 0), c.rgb.data(), c.rgb.size());
      if (c.size != chip_size()) {
        dlib::matrix<dlib::rgb_pixel> r(chip_size(), chip_size());
        dlib::resize_image(m, r);
        m.swap(r);
      }
      imgs.push_back(std::move(m));
    }
    auto d = impl_->describe_dlib(imgs);
    out.insert(out.end(), d.begin(), d.end());
  }
  return out;
}

fs::path faceapi_bin_path(const fs::path& models_dir) {
  return models_dir / "face-api" / "model" / "face_recognition_model.bin";
}
fs::path faceapi_manifest_path(const fs::path& models_dir) {
  return models_dir / "face-api" / "model" / "face_recognition_model-weights_manifest.json";
}

Result<std::string> sha256_file(const fs::path& p) {
  auto data = util::read_file(p, 1u << 30);
  if (!data) return data.error();
  return util::sha256_hex(*data);
}

std::string configure_blas_single_thread() {
  using set_fn = void (*)(int);
  if (auto* f = reinterpret_cast<set_fn>(::dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) {
    f(1);
    return "openblas";
  }
  return "other";
}

Result<void> convert_faceapi_weights(const fs::path& manifest, const fs::path& bin, const fs::path& out_dat) {
  auto ts = read_tfjs(manifest, bin);
  if (!ts) return ts.error();
  auto net = std::make_unique<anet_type>();
  FACECAT_TRY(fill_net(*net, *ts));
  return save_net(*net, out_dat);
}

Result<Encoder> load_encoder(const ModelSpec& spec) {
  configure_blas_single_thread();
  auto impl = std::make_unique<Encoder::Impl>();
  std::error_code ec;
  if (!spec.user_dat.empty()) {
    if (!fs::is_regular_file(spec.user_dat, ec))
      return make_error("face recognition model not found: " + spec.user_dat.string());
    auto sha = sha256_file(spec.user_dat);
    if (!sha) return make_error("cannot read " + spec.user_dat.string() + ": " + sha.error().message);
    FACECAT_TRY(load_net(impl->net, spec.user_dat));
    impl->info = ModelInfo{"dlib-dat-" + sha->substr(0, 16), *sha, spec.user_dat, {}};
    spdlog::debug("face model {} from {}", impl->info.id, spec.user_dat.string());
    FACECAT_TRY(impl->setup_backend(spec.backend));
    return Encoder(std::move(impl));
  }
  const fs::path bin = faceapi_bin_path(spec.models_dir), manifest = faceapi_manifest_path(spec.models_dir);
  if (!fs::is_regular_file(bin, ec) || !fs::is_regular_file(manifest, ec))
    return make_error("face-api weights not found in " + (spec.models_dir / "face-api" / "model").string() +
                      " (" + std::string(kGetModelsHint) + ", or set faces.recognition_model to a dlib .dat)");
  auto sha = sha256_file(bin);
  if (!sha) return make_error("cannot read " + bin.string() + ": " + sha.error().message);
  ModelInfo info{"faceapi-resnet-" + sha->substr(0, 16), *sha, bin, {}};
  const fs::path cache = spec.models_dir / "cache" / (info.id + ".dat");
  if (fs::is_regular_file(cache, ec)) {
    auto r = load_net(impl->net, cache);
    if (r) {
      info.cache_dat = cache;
      impl->info = std::move(info);
      FACECAT_TRY(impl->setup_backend(spec.backend));
      return Encoder(std::move(impl));
    }
    spdlog::warn("ignoring the unreadable model cache {}: {}", cache.string(), r.error().message);
  }
  auto ts = read_tfjs(manifest, bin);
  if (!ts) return ts.error();
  FACECAT_TRY(fill_net(impl->net, *ts));
  if (auto w = save_net(impl->net, cache); w) {
    info.cache_dat = cache;
    spdlog::info("converted the face-api weights into {}", cache.string());
  } else {
    spdlog::warn("cannot cache the converted face model in {}: {}", cache.string(), w.error().message);
  }
  impl->info = std::move(info);
  FACECAT_TRY(impl->setup_backend(spec.backend));
  return Encoder(std::move(impl));
}

}  // namespace facecat::face
