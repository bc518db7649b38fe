// Decode-only baselines for scripts/bench-scenes (facecat-scenes --decode-only MODE), measured by the same
// binary in the same run as the real work:
//   opencv-grab  cv::VideoCapture::grab() in a loop (decode, no conversion)
//   opencv-read  cv::VideoCapture::read() (decode + full-resolution BGR conversion)
//   ffmpeg       video::Decoder::next() without conversion (libavcodec decode only)
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>

#include "util/result.hpp"

namespace facecat::video {

struct DecodeRun {
  int64_t frames = 0;
  double seconds = 0;
};

Result<DecodeRun> decode_only(const std::filesystem::path& path, const std::string& mode, int threads = 0);

}  // namespace facecat::video
