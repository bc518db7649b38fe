#include "face/jitter.hpp"

#include <dlib/image_transforms.h>
#include <dlib/matrix.h>
#include <dlib/pixel.h>
#include <dlib/rand.h>

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

}  // namespace facecat::face
