#include "media/sniff.hpp"

#include <array>
#include <cstring>

#include "util/text.hpp"

namespace facecat::media {

static bool at(std::string_view h, size_t off, std::string_view magic) {
  return h.size() >= off + magic.size() && h.substr(off, magic.size()) == magic;
}

Sniffed sniff(std::string_view h) {
  using namespace std::literals;
  if (at(h, 0, "\xFF\xD8\xFF"sv)) return {Kind::Image, "jpeg"};
  if (at(h, 0, "\x89PNG\r\n\x1A\n"sv)) return {Kind::Image, "png"};
  if (at(h, 0, "RIFF"sv) && at(h, 8, "WEBP"sv)) return {Kind::Image, "webp"};
  if (at(h, 0, "RIFF"sv) && at(h, 8, "AVI "sv)) return {Kind::Video, "avi"};
  if (at(h, 0, "II*\0"sv) || at(h, 0, "MM\0*"sv)) return {Kind::Image, "tiff"};
  if (at(h, 0, "BM"sv) && h.size() >= 26) {
    // BMP: the DIB header size at offset 14 is one of a few known values.
    uint32_t dib = static_cast<uint8_t>(h[14]) | (static_cast<uint8_t>(h[15]) << 8);
    if (dib == 12 || dib == 40 || dib == 52 || dib == 56 || dib == 64 || dib == 108 || dib == 124)
      return {Kind::Image, "bmp"};
  }
  if (at(h, 0, "\x1A\x45\xDF\xA3"sv)) {
    // EBML: Matroska or WebM, told apart by the DocType.
    auto head = h.substr(0, std::min<size_t>(h.size(), 64));
    if (head.find("webm") != std::string_view::npos) return {Kind::Video, "webm"};
    return {Kind::Video, "mkv"};
  }
  if (at(h, 4, "ftyp"sv) && h.size() >= 12) {
    auto brand = h.substr(8, 4);
    static constexpr std::array<std::string_view, 8> heif = {"heic", "heix", "hevc", "hevx", "mif1", "msf1", "heim", "heis"};
    for (auto b : heif)
      if (brand == b) return {Kind::Image, "heic"};
    if (brand == "avif") return {Kind::Other, ""};
    if (brand == "qt  ") return {Kind::Video, "mov"};
    return {Kind::Video, "mp4"};  // isom, mp41, mp42, M4V, 3gp5, dash, ...
  }
  // QuickTime files without ftyp start with a moov/mdat/wide/free atom.
  if (at(h, 4, "moov"sv) || at(h, 4, "mdat"sv) || at(h, 4, "wide"sv)) return {Kind::Video, "mov"};
  return {};
}

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::Image: return "image";
    case Kind::Video: return "video";
    default: return "other";
  }
}

bool has_media_extension(std::string_view name) {
  auto dot = name.rfind('.');
  if (dot == std::string_view::npos) return false;
  auto ext = util::to_lower(name.substr(dot + 1));
  static constexpr std::array<std::string_view, 20> exts = {
      "jpg", "jpeg", "jpe", "png", "webp", "tif", "tiff", "bmp", "heic", "heif",
      "mp4", "m4v", "mov", "mkv", "webm", "avi", "3gp", "jfif", "dib", "hif"};
  for (auto e : exts)
    if (ext == e) return true;
  return false;
}

}  // namespace facecat::media
