// Descriptors averaged over jittered copies of a chip (dlib's compute_face_descriptor num_jitters, face_recognition's
// num_jitters): each copy is randomly rotated, scaled, shifted and mirrored by dlib::jitter_image, and the mean of
// the copies' descriptors is steadier against detection and alignment noise. Costs n descriptor runs per face, so it
// is used where few faces are described and each matters (a facecat-match target), and in facecat-detect only
// when a pipeline asks for it (faces.jitter: ~N× the describe stage).
#pragma once
#include <array>
#include <cstdint>

#include "face/model.hpp"
#include "util/result.hpp"

namespace facecat::face {

// n <= 1: the plain descriptor. The copies come from a fixed seed: the same chip gives the same descriptor.
Result<Descriptor> describe_jittered(Encoder& encoder, const Chip& chip, int n, uint64_t seed = 0);

// Flip test-time augmentation: the mean of the chip's descriptor and its horizontal mirror's (one batch of two).
// rescale: the mean is scaled back to the mean length of the two (averaging shortens it, which shrinks distances).
Result<Descriptor> describe_flipped(Encoder& encoder, const Chip& chip, bool rescale);
// Its parts: the chip's descriptor and its mirror's (one batch), and their mean.
Result<std::array<Descriptor, 2>> describe_mirrored(Encoder& encoder, const Chip& chip);
Descriptor flip_mean(const Descriptor& a, const Descriptor& b, bool rescale);

}  // namespace facecat::face
