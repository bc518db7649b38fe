// What facecat-scan learns about one media file: pixel size from the header, EXIF through libexif, and cheap
// integrity checks (a JPEG without its end marker is truncated). Everything read from a file is distrusted:
// every offset and count is bounds-checked before use (Exiv2's guideline).
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "media/sniff.hpp"
#include "util/result.hpp"

namespace facecat::media {

struct Exif {
  std::optional<std::string> taken_at;      // YYYY-MM-DDTHH:MM:SS
  std::optional<std::string> taken_offset;  // +HH:MM
  std::optional<std::string> make, model, lens;
  std::optional<int> orientation;           // 1..8
  std::optional<double> gps_lat, gps_lon, gps_alt;
  std::optional<double> exposure_time, f_number, focal_length;
  std::optional<int64_t> iso;
  std::optional<int64_t> pixel_x, pixel_y;  // EXIF PixelX/YDimension
};

struct MediaInfo {
  Sniffed type;
  std::optional<int64_t> width, height;  // stored (unrotated) frame
  Exif exif;
  std::string error;    // the file cannot be used (truncated, undecodable header, ...)
  std::string warning;  // usable, but something is off (e.g. corrupt EXIF)
};

// Reads header, EXIF and integrity markers. `head`/`tail` are the file's first/last bytes (from hashing),
// size its length; the file is re-read with pread only where a header lies beyond `head`.
// last_jpeg_eoi: offset of the last FF D9 in the file (from util::digest_file), -1 if none.
MediaInfo read_media_info(const std::filesystem::path& path, const Sniffed& type, std::string_view head,
                          std::string_view tail, uint64_t size, int64_t last_jpeg_eoi = -2);

// Parse an EXIF block (starting with "Exif\0\0" or a TIFF header). Sets warning on corrupt data.
Exif parse_exif(std::string_view block, std::string* warning);

}  // namespace facecat::media
