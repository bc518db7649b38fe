// Descriptor text form: base64 of 128 little-endian float32 (512 bytes -> 684 characters).
#pragma once
#include <optional>
#include <string>
#include <string_view>

#include "face/model.hpp"

namespace facecat::face {

std::string encode_descriptor(const Descriptor& d);
std::optional<Descriptor> decode_descriptor(std::string_view base64);
float descriptor_distance(const Descriptor& a, const Descriptor& b);  // Euclidean (dlib's/face_recognition's metric)

}  // namespace facecat::face
