// Descriptors averaged over jittered copies of a chip (dlib's compute_face_descriptor num_jitters, face_recognition's
// num_jitters): each copy is randomly rotated, scaled, shifted and mirrored by dlib::jitter_image, and the mean of
// the copies' descriptors is steadier against detection and alignment noise. Costs n descriptor runs per face, so it
// is used where few faces are described and each matters (a facecat-match target), not in facecat-detect.
#pragma once
#include <cstdint>

#include "face/model.hpp"
#include "util/result.hpp"

namespace facecat::face {

// n <= 1: the plain descriptor. The copies come from a fixed seed: the same chip gives the same descriptor.
Result<Descriptor> describe_jittered(Encoder& encoder, const Chip& chip, int n, uint64_t seed = 0);

}  // namespace facecat::face
