// Image headers and decoding for the face pipeline. The header is read (and max_pixels enforced) before any
// pixel is decoded, so a 20000×20000 "decompression bomb" costs nothing.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

#include "util/result.hpp"

namespace facecat::face {

struct ImageHeader {
  std::string format;  // jpeg png webp tiff bmp heic (from the content, never the name)
  int width = 0;       // as stored, before EXIF orientation
  int height = 0;
};

// Parses only the header of an in-memory file. Errors: unknown/unsupported format, unreadable header.
Result<ImageHeader> read_image_header(std::string_view bytes);

// The header check that analyze() performs: Error when width*height > max_pixels or a side is 0.
Result<ImageHeader> check_image_header(std::string_view bytes, int64_t max_pixels);

}  // namespace facecat::face
