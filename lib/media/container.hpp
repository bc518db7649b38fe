// Video sizes from container headers (MP4/MOV boxes, Matroska/WebM EBML, AVI RIFF), without a decoder: scan
// must stay cheap and must not load FFmpeg/OpenCV. Every size and offset is bounds-checked against the file.
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

namespace facecat::media {

struct ContainerInfo {
  std::optional<int64_t> width, height;  // of the first video track, as stored (before rotation metadata)
  std::optional<int> rotation;           // MP4 track matrix / rotate tag: 0, 90, 180, 270
  std::string error;                     // truncated or corrupt container, or no video track
};

ContainerInfo read_container(const std::filesystem::path& path, const std::string& format, uint64_t size);

}  // namespace facecat::media
