#include "face/descriptor.hpp"

#include <bit>
#include <cmath>
#include <cstring>

#include "util/text.hpp"

namespace facecat::face {

static_assert(sizeof(float) == 4);

std::string encode_descriptor(const Descriptor& d) {
  std::string raw(d.size() * 4, '\0');
  for (size_t i = 0; i < d.size(); ++i) {
    uint32_t u = std::bit_cast<uint32_t>(d[i]);
    for (int k = 0; k < 4; ++k) raw[4 * i + size_t(k)] = static_cast<char>((u >> (8 * k)) & 0xFF);
  }
  return util::base64_encode(raw);
}

std::optional<Descriptor> decode_descriptor(std::string_view text) {
  auto raw = util::base64_decode(text);
  if (!raw || raw->size() != kDescriptorDims * 4) return std::nullopt;
  Descriptor d{};
  for (size_t i = 0; i < d.size(); ++i) {
    uint32_t u = 0;
    for (int k = 0; k < 4; ++k) u |= uint32_t(uint8_t((*raw)[4 * i + size_t(k)])) << (8 * k);
    d[i] = std::bit_cast<float>(u);
    if (!std::isfinite(d[i])) return std::nullopt;
  }
  return d;
}

float descriptor_distance(const Descriptor& a, const Descriptor& b) {
  float s = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    float t = a[i] - b[i];
    s += t * t;
  }
  return std::sqrt(s);
}

}  // namespace facecat::face
