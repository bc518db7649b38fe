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

// A decoded region of the displayed frame (decode_jpeg_regions).
struct Patch {
  cv::Mat bgr;            // display frame (EXIF orientation applied), at 1/reduction
  int x0 = 0, y0 = 0;     // bgr's top-left pixel in the reduced display frame
  double sx = 1, sy = 1;  // reduced display pixels per full-resolution pixel
  int reduction = 1;
};

// The JPEG's EXIF orientation (1..8; 1 when absent or unreadable), read with libexif.
int jpeg_exif_orientation(const std::string& bytes);

// r scaled by (sx, sy), outward to whole pixels (with a 1e-9 tolerance, so that a frame scaled to a decode's size
// stays that size): the rounding decode_jpeg_regions and Decodes' lookup of its patches share.
cv::Rect scaled_out(const cv::Rect& r, double sx, double sy);

// Decodes only the regions `rects` (full-resolution display-frame pixels, clipped to the frame) of a JPEG at
// 1/reduction, in one pass over the file (jpeg_crop_scanline / jpeg_skip_scanlines: rows outside every region are
// entropy-decoded only). Overlapping regions are merged: every rect lies inside one returned patch. The frame is
// full_width × full_height (the displayed size) and `orientation` the EXIF orientation the decoder applies. An
// Error for CMYK or otherwise unusual JPEGs (callers then decode the whole image).
Result<std::vector<Patch>> decode_jpeg_regions(const std::string& bytes, int orientation, int reduction,
                                               int full_width, int full_height, const std::vector<cv::Rect>& rects);

// The JPEG's main image has an EOI marker after its scan data (false: truncated).
bool jpeg_looks_complete(std::string_view bytes);

}  // namespace facecat::face::detail
