// Content sniffing: a file's kind comes from its bytes, never from its name.
#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace facecat::media {

enum class Kind { Image, Video, Other };

struct Sniffed {
  Kind kind = Kind::Other;
  std::string format;  // jpeg png webp tiff bmp heic mp4 mov mkv webm avi; empty for Other
};

Sniffed sniff(std::string_view head);
const char* kind_name(Kind k);
// True when a file name's extension says image or video (used to tell "bad media" from "not media").
bool has_media_extension(std::string_view filename);

}  // namespace facecat::media
