// Internal to lib/face (includes OpenCV): decoding into cv::Mat.
#pragma once
#include <opencv2/core.hpp>
#include <string>
#include <vector>

#include "face/image.hpp"

namespace facecat::face::detail {

struct Decoded {
  cv::Mat bgr;         // 8-bit BGR, EXIF orientation applied (the displayed frame)
  int reduction = 1;   // 1, 2, 4 or 8: the decode is 1/reduction of the full displayed size
  int full_width = 0;  // displayed frame at full resolution
  int full_height = 0;
  std::vector<std::string> warnings;  // the codec's complaints about a file it still decoded (corrupt data)
};

// Decodes with EXIF orientation applied. reduction > 1 uses the JPEG decoder's DCT scaling (other formats are
// decoded in full and ignore it: reduction is then 1 in the result).
Result<Decoded> decode_image(const std::string& bytes, const ImageHeader& h, int reduction);

// The JPEG's main image has an EOI marker after its scan data (false: truncated).
bool jpeg_looks_complete(std::string_view bytes);

}  // namespace facecat::face::detail
