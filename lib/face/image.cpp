#include <libheif/heif.h>

#include <cstring>
#include <memory>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "face/codec_messages.hpp"
#include "face/image_decode.hpp"
#include "media/sniff.hpp"

namespace facecat::face {
namespace {

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& m : v) s += (s.empty() ? "" : "; ") + m;
  return s;
}

uint32_t be16(std::string_view b, size_t o) { return (uint32_t(uint8_t(b[o])) << 8) | uint8_t(b[o + 1]); }
uint32_t be32(std::string_view b, size_t o) { return (be16(b, o) << 16) | be16(b, o + 2); }
uint32_t le16(std::string_view b, size_t o) { return uint8_t(b[o]) | (uint32_t(uint8_t(b[o + 1])) << 8); }
uint32_t le32(std::string_view b, size_t o) { return le16(b, o) | (le16(b, o + 2) << 16); }
uint32_t le24(std::string_view b, size_t o) { return le16(b, o) | (uint32_t(uint8_t(b[o + 2])) << 16); }

Result<ImageHeader> jpeg_header(std::string_view b) {
  size_t i = 2;
  while (i + 4 <= b.size()) {
    if (uint8_t(b[i]) != 0xFF) return make_error("corrupt JPEG header");
    uint8_t m = uint8_t(b[i + 1]);
    if (m == 0xFF) { ++i; continue; }
    if (m == 0xD8 || (m >= 0xD0 && m <= 0xD7) || m == 0x01) { i += 2; continue; }
    if (m == 0xD9 || m == 0xDA) break;
    uint32_t len = be16(b, i + 2);
    if (len < 2) return make_error("corrupt JPEG header");
    bool sof = (m >= 0xC0 && m <= 0xCF) && m != 0xC4 && m != 0xC8 && m != 0xCC;
    if (sof) {
      if (i + 9 > b.size()) break;
      return ImageHeader{"jpeg", int(be16(b, i + 7)), int(be16(b, i + 5))};
    }
    i += 2 + len;
  }
  return make_error("truncated or corrupt JPEG (no frame header)");
}

Result<ImageHeader> webp_header(std::string_view b) {
  if (b.size() < 30) return make_error("truncated WebP header");
  auto chunk = b.substr(12, 4);
  if (chunk == "VP8 ") {
    if (uint8_t(b[23]) != 0x9D || uint8_t(b[24]) != 0x01 || uint8_t(b[25]) != 0x2A)
      return make_error("corrupt WebP (VP8) header");
    return ImageHeader{"webp", int(le16(b, 26) & 0x3FFF), int(le16(b, 28) & 0x3FFF)};
  }
  if (chunk == "VP8L") {
    if (uint8_t(b[20]) != 0x2F) return make_error("corrupt WebP (VP8L) header");
    uint32_t v = le32(b, 21);
    return ImageHeader{"webp", int((v & 0x3FFF) + 1), int(((v >> 14) & 0x3FFF) + 1)};
  }
  if (chunk == "VP8X") return ImageHeader{"webp", int(le24(b, 24) + 1), int(le24(b, 27) + 1)};
  return make_error("unsupported WebP variant");
}

Result<ImageHeader> tiff_header(std::string_view b) {
  bool le = b[0] == 'I';
  auto r16 = [&](size_t o) { return le ? le16(b, o) : be16(b, o); };
  auto r32 = [&](size_t o) { return le ? le32(b, o) : be32(b, o); };
  if (b.size() < 8) return make_error("truncated TIFF header");
  size_t ifd = r32(4);
  if (ifd + 2 > b.size()) return make_error("truncated TIFF header");
  uint32_t n = r16(ifd);
  int w = 0, h = 0;
  for (uint32_t k = 0; k < n && ifd + 2 + 12 * (k + 1) <= b.size(); ++k) {
    size_t e = ifd + 2 + 12 * k;
    uint32_t tag = r16(e), type = r16(e + 2);
    uint32_t val = type == 3 ? r16(e + 8) : r32(e + 8);
    if (tag == 256) w = int(val);
    if (tag == 257) h = int(val);
  }
  if (w <= 0 || h <= 0) return make_error("TIFF without image size");
  return ImageHeader{"tiff", w, h};
}

struct HeifCtx {
  heif_context* ctx = heif_context_alloc();
  heif_image_handle* handle = nullptr;
  heif_image* img = nullptr;
  ~HeifCtx() {
    if (img) heif_image_release(img);
    if (handle) heif_image_handle_release(handle);
    heif_context_free(ctx);
  }
};

Result<ImageHeader> heic_header(std::string_view b, HeifCtx& h) {
  heif_error e = heif_context_read_from_memory_without_copy(h.ctx, b.data(), b.size(), nullptr);
  if (e.code != heif_error_Ok) return make_error(std::string("unreadable HEIF: ") + e.message);
  e = heif_context_get_primary_image_handle(h.ctx, &h.handle);
  if (e.code != heif_error_Ok) return make_error(std::string("unreadable HEIF: ") + e.message);
  return ImageHeader{"heic", heif_image_handle_get_width(h.handle), heif_image_handle_get_height(h.handle)};
}

}  // namespace

Result<ImageHeader> read_image_header(std::string_view b) {
  auto s = media::sniff(b.substr(0, std::min<size_t>(b.size(), 4096)));
  if (b.empty()) return make_error("empty file");
  if (s.kind == media::Kind::Video)
    return make_error("a " + s.format + " video, not an image: split it into scenes with facecat-scenes, whose "
                      "frames facecat-detect then reads");
  if (s.kind != media::Kind::Image) return make_error("not an image file (unknown content)");
  if (s.format == "jpeg") return jpeg_header(b);
  if (s.format == "png") {
    if (b.size() < 24 || b.substr(12, 4) != "IHDR") return make_error("truncated or corrupt PNG header");
    return ImageHeader{"png", int(be32(b, 16)), int(be32(b, 20))};
  }
  if (s.format == "webp") return webp_header(b);
  if (s.format == "tiff") return tiff_header(b);
  if (s.format == "bmp") {
    if (b.size() < 26) return make_error("truncated BMP header");
    int32_t w = int32_t(le32(b, 18)), h = int32_t(le32(b, 22));
    return ImageHeader{"bmp", std::abs(w), std::abs(h)};
  }
  if (s.format == "heic") {
    HeifCtx h;
    return heic_header(b, h);
  }
  return make_error("unsupported image format: " + s.format);
}

Result<ImageHeader> check_image_header(std::string_view bytes, int64_t max_pixels) {
  auto h = read_image_header(bytes);
  if (!h) return h;
  if (h->width <= 0 || h->height <= 0) return make_error("image has no pixels (" + h->format + " header says 0)");
  const int64_t px = int64_t(h->width) * h->height;
  if (max_pixels > 0 && px > max_pixels)
    return make_error("image is " + std::to_string(h->width) + "x" + std::to_string(h->height) + " = " +
                      std::to_string(px) + " pixels, more than faces.max_pixels (" + std::to_string(max_pixels) +
                      "); refused without decoding");
  return h;
}

namespace detail {

bool jpeg_looks_complete(std::string_view b) {
  // Walk the markers to the first scan, then look for EOI after it (entropy-coded data never contains FF D9).
  size_t i = 2;
  while (i + 4 <= b.size()) {
    if (uint8_t(b[i]) != 0xFF) return false;
    uint8_t m = uint8_t(b[i + 1]);
    if (m == 0xFF) { ++i; continue; }
    if ((m >= 0xD0 && m <= 0xD8) || m == 0x01) { i += 2; continue; }
    if (m == 0xDA) break;
    i += 2 + be16(b, i + 2);
  }
  if (i + 4 > b.size()) return false;
  const char* p = b.data() + i;
  const char* end = b.data() + b.size();
  while (p < end) {
    p = static_cast<const char*>(std::memchr(p, 0xFF, size_t(end - p)));
    if (!p || p + 1 >= end) return false;
    if (uint8_t(p[1]) == 0xD9) return true;
    p += 1;
  }
  return false;
}

Result<Decoded> decode_image(const std::string& bytes, const ImageHeader& h, int reduction) {
  Decoded d;
  if (h.format == "heic") {
    HeifCtx ctx;
    FACECAT_TRY(heic_header(bytes, ctx));
    heif_error e = heif_decode_image(ctx.handle, &ctx.img, heif_colorspace_RGB, heif_chroma_interleaved_RGB, nullptr);
    if (e.code != heif_error_Ok) return make_error(std::string("cannot decode HEIF: ") + e.message);
    int stride = 0;
    const uint8_t* p = heif_image_get_plane_readonly(ctx.img, heif_channel_interleaved, &stride);
    int w = heif_image_get_width(ctx.img, heif_channel_interleaved);
    int hh = heif_image_get_height(ctx.img, heif_channel_interleaved);
    if (!p || w <= 0 || hh <= 0) return make_error("cannot decode HEIF: no pixels");
    cv::Mat rgb(hh, w, CV_8UC3, const_cast<uint8_t*>(p), size_t(stride));
    cv::cvtColor(rgb, d.bgr, cv::COLOR_RGB2BGR);  // libheif applies irot/imir itself
    d.full_width = w;
    d.full_height = hh;
    return d;
  }
  if (h.format == "jpeg" && !jpeg_looks_complete(bytes)) return make_error("truncated JPEG (no end of image marker)");
  if (h.format != "jpeg") reduction = 1;
  int flag = cv::IMREAD_COLOR;
  if (reduction == 2) flag = cv::IMREAD_REDUCED_COLOR_2;
  else if (reduction == 4) flag = cv::IMREAD_REDUCED_COLOR_4;
  else if (reduction == 8) flag = cv::IMREAD_REDUCED_COLOR_8;
  else reduction = 1;
  cv::Mat buf(1, int(bytes.size()), CV_8UC1, const_cast<char*>(bytes.data()));
  clear_codec_messages();
  try {
    d.bgr = cv::imdecode(buf, flag);  // 16-bit -> 8-bit, gray/alpha/CMYK -> BGR, EXIF orientation applied
  } catch (const cv::Exception& e) {
    clear_codec_messages();
    return make_error("cannot decode " + h.format + ": " + e.what());
  }
  d.warnings = take_codec_messages();  // libpng's and libjpeg's own words, instead of their stderr lines
  if (d.bgr.empty())
    return make_error("cannot decode " + h.format + " (" +
                      (d.warnings.empty() ? std::string("corrupt or truncated") : joined(d.warnings)) + ")");
  d.reduction = reduction;
  // The displayed frame is the header's size, swapped when the EXIF orientation turned the image.
  const bool dec_portrait = d.bgr.rows > d.bgr.cols, hdr_portrait = h.height > h.width;
  const bool swapped = h.width != h.height && dec_portrait != hdr_portrait;
  d.full_width = swapped ? h.height : h.width;
  d.full_height = swapped ? h.width : h.height;
  if (reduction == 1 && (d.bgr.cols != d.full_width || d.bgr.rows != d.full_height)) {
    d.full_width = d.bgr.cols;  // trust the pixels
    d.full_height = d.bgr.rows;
  }
  return d;
}

}  // namespace detail
}  // namespace facecat::face
