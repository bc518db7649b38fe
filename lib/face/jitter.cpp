#include "face/jitter.hpp"

#include <dlib/image_transforms.h>
#include <dlib/matrix.h>
#include <dlib/pixel.h>
#include <dlib/rand.h>

#include <cmath>

namespace facecat::face {

Result<Descriptor> describe_jittered(Encoder& encoder, const Chip& chip, int n, uint64_t seed) {
  if (chip.size <= 0 || chip.rgb.size() != static_cast<size_t>(chip.size) * static_cast<size_t>(chip.size) * 3)
    return make_error("a malformed face chip");
  if (n <= 1) {
    auto d = encoder.describe({chip});
    if (!d) return d.error();
    return (*d)[0];
  }
  dlib::matrix<dlib::rgb_pixel> img(chip.size, chip.size);
  for (long r = 0; r < img.nr(); ++r)
    for (long c = 0; c < img.nc(); ++c) {
      const uint8_t* p = &chip.rgb[(static_cast<size_t>(r) * static_cast<size_t>(chip.size) + static_cast<size_t>(c)) * 3];
      img(r, c) = dlib::rgb_pixel(p[0], p[1], p[2]);
    }
  dlib::rand rnd(seed);
  std::vector<Chip> copies;
  copies.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    auto j = dlib::jitter_image(img, rnd);
    Chip c;
    c.size = static_cast<int>(j.nr());
    c.rgb.resize(static_cast<size_t>(j.nr() * j.nc()) * 3);
    size_t k = 0;
    for (long r = 0; r < j.nr(); ++r)
      for (long cc = 0; cc < j.nc(); ++cc) {
        c.rgb[k++] = j(r, cc).red;
        c.rgb[k++] = j(r, cc).green;
        c.rgb[k++] = j(r, cc).blue;
      }
    copies.push_back(std::move(c));
  }
  auto d = encoder.describe(copies);
  if (!d) return d.error();
  Descriptor mean{};
  for (auto& x : *d)
    for (size_t i = 0; i < mean.size(); ++i) mean[i] += x[i];
  for (auto& v : mean) v /= static_cast<float>(d->size());
  return mean;
}

Result<std::array<Descriptor, 2>> describe_mirrored(Encoder& encoder, const Chip& chip) {
  if (chip.size <= 0 || chip.rgb.size() != static_cast<size_t>(chip.size) * static_cast<size_t>(chip.size) * 3)
    return make_error("a malformed face chip");
  Chip mirror = chip;
  const size_t side = static_cast<size_t>(chip.size);
  for (size_t r = 0; r < side; ++r)
    for (size_t c = 0; c < side; ++c)
      for (size_t k = 0; k < 3; ++k) mirror.rgb[(r * side + c) * 3 + k] = chip.rgb[(r * side + (side - 1 - c)) * 3 + k];
  auto d = encoder.describe({chip, mirror});
  if (!d) return d.error();
  return std::array<Descriptor, 2>{(*d)[0], (*d)[1]};
}

Descriptor flip_mean(const Descriptor& a, const Descriptor& b, bool rescale) {
  Descriptor mean{};
  double na = 0, nb = 0, nm = 0;
  for (size_t i = 0; i < mean.size(); ++i) {
    mean[i] = (a[i] + b[i]) / 2;
    na += static_cast<double>(a[i]) * a[i];
    nb += static_cast<double>(b[i]) * b[i];
    nm += static_cast<double>(mean[i]) * mean[i];
  }
  if (rescale && nm > 0) {
    const double f = (std::sqrt(na) + std::sqrt(nb)) / 2 / std::sqrt(nm);
    for (auto& v : mean) v = static_cast<float>(v * f);
  }
  return mean;
}

Result<Descriptor> describe_flipped(Encoder& encoder, const Chip& chip, bool rescale) {
  auto d = describe_mirrored(encoder, chip);
  if (!d) return d.error();
  return flip_mean((*d)[0], (*d)[1], rescale);
}

}  // namespace facecat::face
