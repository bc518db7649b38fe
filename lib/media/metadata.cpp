#include "media/metadata.hpp"

#include <fcntl.h>
#include <libexif/exif-data.h>
#include <libexif/exif-log.h>
#include <libheif/heif.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstring>
#include <vector>

#include "media/container.hpp"
#include "util/text.hpp"

#include "util/pread_file.hpp"

namespace facecat::media {
namespace {

using File = util::PreadFile;

uint32_t be16(const std::string& s, size_t o) { return (uint8_t(s[o]) << 8) | uint8_t(s[o + 1]); }
uint32_t be32(const std::string& s, size_t o) {
  return (uint32_t(uint8_t(s[o])) << 24) | (uint8_t(s[o + 1]) << 16) | (uint8_t(s[o + 2]) << 8) | uint8_t(s[o + 3]);
}
uint32_t le16(std::string_view s, size_t o) { return uint8_t(s[o]) | (uint8_t(s[o + 1]) << 8); }
uint32_t le24(std::string_view s, size_t o) { return uint8_t(s[o]) | (uint8_t(s[o + 1]) << 8) | (uint8_t(s[o + 2]) << 16); }
uint32_t le32(std::string_view s, size_t o) {
  return uint8_t(s[o]) | (uint8_t(s[o + 1]) << 8) | (uint8_t(s[o + 2]) << 16) | (uint32_t(uint8_t(s[o + 3])) << 24);
}

// ---- EXIF via libexif -------------------------------------------------------------------------------------------
struct LogSink {
  std::string first_problem;
};

extern "C" void exif_log_cb(ExifLog*, ExifLogCode code, const char* domain, const char* format, va_list args,
                            void* data) {
  if (code != EXIF_LOG_CODE_CORRUPT_DATA && code != EXIF_LOG_CODE_NO_MEMORY) return;
  auto* sink = static_cast<LogSink*>(data);
  if (!sink->first_problem.empty()) return;
  char buf[256];
  std::vsnprintf(buf, sizeof buf, format, args);
  sink->first_problem = std::string(domain ? domain : "exif") + ": " + buf;
}

ExifEntry* entry(ExifData* d, ExifIfd ifd, int tag) {
  return exif_content_get_entry(d->ifd[ifd], static_cast<ExifTag>(tag));
}

bool has(ExifEntry* e, ExifFormat f, unsigned long n) {
  return e && e->format == f && e->components >= n && e->data && e->size >= n * exif_format_get_size(f);
}

std::optional<std::string> ascii(ExifEntry* e) {
  if (!e || e->format != EXIF_FORMAT_ASCII || !e->data || e->size == 0) return std::nullopt;
  std::string s(reinterpret_cast<const char*>(e->data), e->size);
  auto nul = s.find('\0');
  if (nul != std::string::npos) s.resize(nul);
  s = util::trim(s);
  if (s.empty()) return std::nullopt;
  return util::utf8_lossy(s);
}

std::optional<double> rational(ExifData* d, ExifEntry* e, unsigned idx = 0) {
  auto bo = exif_data_get_byte_order(d);
  if (has(e, EXIF_FORMAT_RATIONAL, idx + 1)) {
    ExifRational r = exif_get_rational(e->data + 8 * idx, bo);
    if (r.denominator == 0) return std::nullopt;
    return static_cast<double>(r.numerator) / r.denominator;
  }
  if (has(e, EXIF_FORMAT_SRATIONAL, idx + 1)) {
    ExifSRational r = exif_get_srational(e->data + 8 * idx, bo);
    if (r.denominator == 0) return std::nullopt;
    return static_cast<double>(r.numerator) / r.denominator;
  }
  return std::nullopt;
}

std::optional<int64_t> integer(ExifData* d, ExifEntry* e) {
  auto bo = exif_data_get_byte_order(d);
  if (has(e, EXIF_FORMAT_SHORT, 1)) return exif_get_short(e->data, bo);
  if (has(e, EXIF_FORMAT_LONG, 1)) return exif_get_long(e->data, bo);
  if (has(e, EXIF_FORMAT_SSHORT, 1)) return exif_get_sshort(e->data, bo);
  if (has(e, EXIF_FORMAT_SLONG, 1)) return exif_get_slong(e->data, bo);
  return std::nullopt;
}

std::optional<double> gps_coord(ExifData* d, int ref_tag, int tag, char negative) {
  ExifEntry* v = entry(d, EXIF_IFD_GPS, tag);
  auto deg = rational(d, v, 0), min = rational(d, v, 1), sec = rational(d, v, 2);
  if (!deg || !min || !sec) return std::nullopt;
  double x = *deg + *min / 60.0 + *sec / 3600.0;
  auto ref = ascii(entry(d, EXIF_IFD_GPS, ref_tag));
  if (ref && !ref->empty() && (*ref)[0] == negative) x = -x;
  if (!std::isfinite(x)) return std::nullopt;
  return x;
}

std::optional<std::string> exif_datetime(const std::optional<std::string>& s) {
  // "YYYY:MM:DD HH:MM:SS" -> "YYYY-MM-DDTHH:MM:SS"; anything else (including "0000:00:00 …") is dropped.
  if (!s || s->size() < 19) return std::nullopt;
  std::string t = s->substr(0, 19);
  static const char* shape = "dddd:dd:dd dd:dd:dd";
  for (size_t i = 0; i < 19; ++i) {
    if (shape[i] == 'd' ? !(t[i] >= '0' && t[i] <= '9') : t[i] != shape[i]) return std::nullopt;
  }
  if (t.compare(0, 4, "0000") == 0) return std::nullopt;
  t[4] = '-';
  t[7] = '-';
  t[10] = 'T';
  return t;
}

// libexif skips what it cannot read without a word (an entry count larger than the block, a value beyond its
// end, an IFD pointer that leads back). Walk the TIFF structure ourselves, bounded, and name the first problem.
// `complete`: the block is the whole EXIF data (false for a TIFF file read only in part: values may lie beyond).
std::string tiff_problem(std::string_view t, bool complete) {
  if (t.size() < 8) return "TIFF header too short";
  bool le = t[0] == 'I' && t[1] == 'I';
  if (!le && !(t[0] == 'M' && t[1] == 'M')) return "bad byte-order mark";
  auto u16 = [&](uint64_t o) -> uint32_t {
    return le ? (uint8_t(t[o]) | (uint8_t(t[o + 1]) << 8)) : ((uint8_t(t[o]) << 8) | uint8_t(t[o + 1]));
  };
  auto u32 = [&](uint64_t o) -> uint32_t { return le ? (u16(o) | (u16(o + 2) << 16)) : ((u16(o) << 16) | u16(o + 2)); };
  static const uint8_t unit[14] = {0, 1, 1, 2, 4, 8, 1, 1, 2, 4, 8, 4, 8, 4};  // by TIFF/EXIF type, 0: unknown
  const uint64_t size = t.size();
  struct Todo {
    uint64_t off;
    const char* name;
  };
  std::vector<Todo> todo{{u32(4), "IFD0"}};
  std::vector<uint64_t> seen;
  for (int ifds = 0; !todo.empty() && ifds < 16; ++ifds) {
    Todo d = todo.back();
    todo.pop_back();
    if (std::find(seen.begin(), seen.end(), d.off) != seen.end())
      return std::string(d.name) + " at offset " + std::to_string(d.off) + " was already read (an IFD loop)";
    seen.push_back(d.off);
    if (d.off + 2 > size) {
      if (!complete) continue;
      return std::string(d.name) + " offset " + std::to_string(d.off) + " is outside the " + std::to_string(size) +
             "-byte block";
    }
    uint64_t n = u16(d.off);
    if (d.off + 2 + 12 * n > size) {
      if (!complete) continue;
      return std::string(d.name) + " claims " + std::to_string(n) + " entries; the block has room for " +
             std::to_string((size - d.off - 2) / 12);
    }
    for (uint64_t i = 0; i < n; ++i) {
      uint64_t e = d.off + 2 + 12 * i;
      uint32_t tag = u16(e), type = u16(e + 2);
      uint64_t count = u32(e + 4);
      uint64_t bytes = type < 14 ? count * unit[type] : 0;
      if (bytes > 4 && complete && u32(e + 8) + bytes > size) {
        char buf[160];
        std::snprintf(buf, sizeof buf, "tag 0x%04x in %s: its %llu-byte value at offset %u runs past the %llu-byte block",
                      tag, d.name, static_cast<unsigned long long>(bytes), u32(e + 8),
                      static_cast<unsigned long long>(size));
        return buf;
      }
      if ((type == 4 || type == 13) && count == 1) {
        if (tag == 0x8769) todo.push_back({u32(e + 8), "the EXIF IFD"});
        if (tag == 0x8825) todo.push_back({u32(e + 8), "the GPS IFD"});
        if (tag == 0xA005) todo.push_back({u32(e + 8), "the interoperability IFD"});
      }
    }
    if (std::string_view(d.name) == "IFD0" && d.off + 2 + 12 * n + 4 <= size) {
      if (uint64_t next = u32(d.off + 2 + 12 * n)) todo.push_back({next, "IFD1"});
    }
  }
  return {};
}

Exif parse_exif_impl(std::string_view block, std::string* warning, bool complete);

}  // namespace

Exif parse_exif(std::string_view block, std::string* warning) { return parse_exif_impl(block, warning, true); }

namespace {
Exif parse_exif_impl(std::string_view block, std::string* warning, bool complete) {
  Exif x;
  std::string buf;
  // libexif wants "Exif\0\0" + TIFF; accept a bare TIFF header too.
  if (block.substr(0, 6) != std::string_view("Exif\0\0", 6)) {
    buf.assign("Exif\0\0", 6);
    buf.append(block);
  } else {
    buf.assign(block);
  }
  if (buf.size() < 14) {
    if (warning) *warning = "EXIF block too short";
    return x;
  }
  LogSink sink;
  ExifLog* log = exif_log_new();
  exif_log_set_func(log, exif_log_cb, &sink);
  ExifData* d = exif_data_new();
  exif_data_log(d, log);
  exif_data_unset_option(d, EXIF_DATA_OPTION_FOLLOW_SPECIFICATION);  // read what is there, invent nothing
  exif_data_load_data(d, reinterpret_cast<const unsigned char*>(buf.data()), static_cast<unsigned>(buf.size()));

  x.make = ascii(entry(d, EXIF_IFD_0, 0x010f));
  x.model = ascii(entry(d, EXIF_IFD_0, 0x0110));
  x.lens = ascii(entry(d, EXIF_IFD_EXIF, 0xa434));
  if (auto o = integer(d, entry(d, EXIF_IFD_0, 0x0112)); o && *o >= 1 && *o <= 8) x.orientation = static_cast<int>(*o);
  else if (o && warning && warning->empty()) *warning = "EXIF orientation " + std::to_string(*o) + " is out of range";
  x.taken_at = exif_datetime(ascii(entry(d, EXIF_IFD_EXIF, 0x9003)));
  if (!x.taken_at) x.taken_at = exif_datetime(ascii(entry(d, EXIF_IFD_0, 0x0132)));
  if (auto off = ascii(entry(d, EXIF_IFD_EXIF, 0x9011)); off && off->size() == 6 &&
                                                          ((*off)[0] == '+' || (*off)[0] == '-') && (*off)[3] == ':')
    x.taken_offset = *off;
  x.exposure_time = rational(d, entry(d, EXIF_IFD_EXIF, 0x829a));
  x.f_number = rational(d, entry(d, EXIF_IFD_EXIF, 0x829d));
  x.focal_length = rational(d, entry(d, EXIF_IFD_EXIF, 0x920a));
  x.iso = integer(d, entry(d, EXIF_IFD_EXIF, 0x8827));
  x.pixel_x = integer(d, entry(d, EXIF_IFD_EXIF, 0xa002));
  x.pixel_y = integer(d, entry(d, EXIF_IFD_EXIF, 0xa003));
  x.gps_lat = gps_coord(d, 0x0001, 0x0002, 'S');
  x.gps_lon = gps_coord(d, 0x0003, 0x0004, 'W');
  if (auto alt = rational(d, entry(d, EXIF_IFD_GPS, 0x0006))) {
    ExifEntry* ref = entry(d, EXIF_IFD_GPS, 0x0005);
    bool below = has(ref, EXIF_FORMAT_BYTE, 1) && ref->data[0] == 1;
    x.gps_alt = below ? -*alt : *alt;
  }
  if (x.gps_lat && std::fabs(*x.gps_lat) > 90) x.gps_lat.reset();
  if (x.gps_lon && std::fabs(*x.gps_lon) > 180) x.gps_lon.reset();
  // libexif skips an IFD0 whose offset points outside the block without a word: that is corrupt EXIF too.
  bool ifd0_unreadable = d->ifd[EXIF_IFD_0] == nullptr || d->ifd[EXIF_IFD_0]->count == 0;
  exif_data_unref(d);
  exif_log_unref(log);
  if (ifd0_unreadable && sink.first_problem.empty()) sink.first_problem = "IFD0 is unreadable (bad offset or count)";
  if (sink.first_problem.empty()) sink.first_problem = tiff_problem(std::string_view(buf).substr(6), complete);
  if (!sink.first_problem.empty() && warning && warning->empty()) *warning = "corrupt EXIF: " + sink.first_problem;
  return x;
}

// ---- per-format headers ------------------------------------------------------------------------------------------
void jpeg_info(const File& f, uint64_t size, std::string_view tail, int64_t last_eoi, MediaInfo& mi) {
  uint64_t off = 2;
  int64_t sos = -1;
  std::string exif_block;
  for (int segments = 0; segments < 4096; ++segments) {
    auto hdr = f.read(off, 4);
    if (hdr.size() < 4) {
      mi.error = "truncated JPEG: ends inside its headers";
      return;
    }
    if (uint8_t(hdr[0]) != 0xFF) {
      mi.error = "corrupt JPEG: no marker at offset " + std::to_string(off);
      return;
    }
    uint8_t marker = uint8_t(hdr[1]);
    if (marker == 0xFF) {  // fill byte
      off += 1;
      continue;
    }
    if (marker == 0xD8 || (marker >= 0xD0 && marker <= 0xD7) || marker == 0x01) {
      off += 2;
      continue;
    }
    uint32_t len = be16(hdr, 2);
    if (len < 2) {
      mi.error = "corrupt JPEG: bad segment length at offset " + std::to_string(off);
      return;
    }
    if (marker == 0xE1 && exif_block.empty() && len > 8) {
      auto seg = f.read(off + 4, len - 2);
      if (seg.size() >= 6 && seg.compare(0, 6, std::string("Exif\0\0", 6)) == 0) exif_block = std::move(seg);
    }
    bool sof = marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
    if (sof) {
      auto s = f.read(off + 4, 6);
      if (s.size() < 6) {
        mi.error = "truncated JPEG: ends inside its frame header";
        return;
      }
      mi.height = be16(s, 1);
      mi.width = be16(s, 3);
      if (*mi.width == 0 || *mi.height == 0) {
        mi.error = "corrupt JPEG: zero width or height in the frame header";
        return;
      }
    }
    if (marker == 0xDA) {  // start of scan: headers are over
      sos = static_cast<int64_t>(off);
      break;
    }
    off += 2 + len;
    if (off >= size) {
      mi.error = "truncated JPEG: ends inside its headers";
      return;
    }
  }
  if (!mi.width) {
    mi.error = "corrupt JPEG: no frame header before the image data";
    return;
  }
  // A complete JPEG has an EOI (FF D9) after its scan data, possibly followed by a trailer. When the caller
  // streamed the file it knows the last EOI's offset; otherwise only the tail can be searched.
  bool complete = last_eoi >= -1 ? last_eoi > sos : tail.find("\xFF\xD9") != std::string_view::npos;
  if (!complete) mi.error = "truncated JPEG: no end-of-image marker after the image data";
  if (!exif_block.empty()) mi.exif = parse_exif(exif_block, &mi.warning);
}

void png_info(const File& f, std::string_view head, std::string_view tail, MediaInfo& mi) {
  if (head.size() < 24 || head.substr(12, 4) != "IHDR") {
    mi.error = "corrupt PNG: no IHDR chunk";
    return;
  }
  std::string h(head.substr(0, 24));
  mi.width = be32(h, 16);
  mi.height = be32(h, 20);
  if (*mi.width == 0 || *mi.height == 0) mi.error = "corrupt PNG: zero width or height";
  else if (tail.find("IEND") == std::string_view::npos) mi.error = "truncated PNG: no IEND chunk";
  // eXIf chunk: walk chunks (bounded) to find it.
  uint64_t off = 8;
  for (int i = 0; i < 10000 && mi.error.empty(); ++i) {
    auto c = f.read(off, 8);
    if (c.size() < 8) break;
    uint32_t len = be32(c, 0);
    std::string type = c.substr(4, 4);
    if (type == "eXIf" && len < (16u << 20)) {
      auto data = f.read(off + 8, len);
      if (data.size() == len) mi.exif = parse_exif(data, &mi.warning);
      break;
    }
    if (type == "IDAT" || type == "IEND") break;  // EXIF after IDAT is rare; don't read the image data
    off += 12 + static_cast<uint64_t>(len);
  }
}

void webp_info(const File& f, std::string_view head, uint64_t size, MediaInfo& mi) {
  if (head.size() < 30) {
    mi.error = "truncated WebP";
    return;
  }
  uint64_t riff = le32(head, 4) + 8ull;
  if (riff > size) {
    mi.error = "truncated WebP: RIFF says " + std::to_string(riff) + " bytes, file has " + std::to_string(size);
    return;
  }
  auto chunk = head.substr(12, 4);
  if (chunk == "VP8 ") {
    if (head.substr(23, 3) != "\x9d\x01\x2a") {
      mi.error = "corrupt WebP: bad VP8 frame tag";
      return;
    }
    mi.width = le16(head, 26) & 0x3fff;
    mi.height = le16(head, 28) & 0x3fff;
  } else if (chunk == "VP8L") {
    if (uint8_t(head[20]) != 0x2f) {
      mi.error = "corrupt WebP: bad VP8L signature";
      return;
    }
    uint32_t b = le32(head, 21);
    mi.width = (b & 0x3fff) + 1;
    mi.height = ((b >> 14) & 0x3fff) + 1;
  } else if (chunk == "VP8X") {
    mi.width = le24(head, 24) + 1;
    mi.height = le24(head, 27) + 1;
    if (uint8_t(head[20]) & 0x08) {  // EXIF flag: find the EXIF chunk
      uint64_t off = 12;
      for (int i = 0; i < 1000; ++i) {
        auto c = f.read(off, 8);
        if (c.size() < 8) break;
        uint32_t len = le32(c, 4);
        if (c.compare(0, 4, "EXIF") == 0 && len < (16u << 20)) {
          auto data = f.read(off + 8, len);
          if (data.size() == len) mi.exif = parse_exif(data, &mi.warning);
          break;
        }
        off += 8 + len + (len & 1);
      }
    }
  } else {
    mi.error = "corrupt WebP: unknown chunk";
  }
  if (mi.error.empty() && (!mi.width || *mi.width == 0 || !mi.height || *mi.height == 0))
    mi.error = "corrupt WebP: zero width or height";
}

void bmp_info(std::string_view head, MediaInfo& mi) {
  uint32_t dib = le32(head, 14);
  if (dib == 12) {
    mi.width = le16(head, 18);
    mi.height = le16(head, 20);
  } else if (head.size() >= 26) {
    mi.width = static_cast<int32_t>(le32(head, 18));
    mi.height = std::llabs(static_cast<int32_t>(le32(head, 22)));
  }
  if (!mi.width || *mi.width <= 0 || !mi.height || *mi.height <= 0) mi.error = "corrupt BMP: bad dimensions";
}

void tiff_info(const File& f, uint64_t size, MediaInfo& mi) {
  // The TIFF structure is EXIF's own: let libexif read IFD0 (bounded to the first 4 MiB).
  auto data = f.read(0, static_cast<size_t>(std::min<uint64_t>(size, 4u << 20)));
  mi.exif = parse_exif_impl(data, &mi.warning, data.size() == size);
  // Width/length are tags 0x0100/0x0101 of IFD0; read them directly.
  bool le = data.size() > 8 && data[0] == 'I';
  auto u16 = [&](size_t o) -> uint32_t {
    return le ? (uint8_t(data[o]) | (uint8_t(data[o + 1]) << 8)) : ((uint8_t(data[o]) << 8) | uint8_t(data[o + 1]));
  };
  auto u32 = [&](size_t o) -> uint32_t {
    return le ? (u16(o) | (u16(o + 2) << 16)) : ((u16(o) << 16) | u16(o + 2));
  };
  if (data.size() < 8) {
    mi.error = "truncated TIFF";
    return;
  }
  uint64_t ifd = u32(4);
  if (ifd + 2 > data.size()) {
    mi.error = "corrupt TIFF: first IFD outside the file";
    return;
  }
  uint32_t n = u16(ifd);
  for (uint32_t i = 0; i < n && ifd + 2 + 12 * (i + 1) <= data.size(); ++i) {
    size_t e = ifd + 2 + 12 * i;
    uint32_t tag = u16(e), type = u16(e + 2);
    uint32_t val = type == 3 ? u16(e + 8) : u32(e + 8);
    if (tag == 0x0100) mi.width = val;
    if (tag == 0x0101) mi.height = val;
  }
  if (!mi.width || !mi.height || *mi.width == 0 || *mi.height == 0) mi.error = "corrupt TIFF: no image size in IFD0";
}

void heic_info(const std::filesystem::path& p, MediaInfo& mi) {
  heif_context* ctx = heif_context_alloc();
  heif_error err = heif_context_read_from_file(ctx, p.c_str(), nullptr);
  if (err.code != heif_error_Ok) {
    mi.error = std::string("corrupt HEIC: ") + err.message;
    heif_context_free(ctx);
    return;
  }
  heif_image_handle* h = nullptr;
  err = heif_context_get_primary_image_handle(ctx, &h);
  if (err.code != heif_error_Ok) {
    mi.error = std::string("corrupt HEIC: ") + err.message;
    heif_context_free(ctx);
    return;
  }
  // libheif reports the size with the HEIF transforms (irot/imir) applied; that is the stored frame for us,
  // and HEIC's EXIF orientation must then be ignored (libheif has already applied it).
  mi.width = heif_image_handle_get_width(h);
  mi.height = heif_image_handle_get_height(h);
  heif_item_id ids[4];
  int n = heif_image_handle_get_list_of_metadata_block_IDs(h, "Exif", ids, 4);
  if (n > 0) {
    size_t sz = heif_image_handle_get_metadata_size(h, ids[0]);
    if (sz > 4 && sz < (16u << 20)) {
      std::string data(sz, '\0');
      if (heif_image_handle_get_metadata(h, ids[0], data.data()).code == heif_error_Ok) {
        uint32_t skip = be32(data, 0);  // offset to the TIFF header
        if (4ull + skip < data.size()) {
          mi.exif = parse_exif(std::string_view(data).substr(4 + skip), &mi.warning);
          mi.exif.orientation = 1;
        }
      }
    }
  }
  heif_image_handle_release(h);
  heif_context_free(ctx);
}

void video_info(const std::filesystem::path& p, uint64_t size, MediaInfo& mi) {
  auto c = read_container(p, mi.type.format, size);
  mi.width = c.width;
  mi.height = c.height;
  mi.error = c.error;
}

}  // namespace

MediaInfo read_media_info(const std::filesystem::path& path, const Sniffed& type, std::string_view head,
                          std::string_view tail, uint64_t size, int64_t last_jpeg_eoi) {
  MediaInfo mi;
  mi.type = type;
  File f(path);
  if (!f.ok()) {
    mi.error = std::string("cannot open: ") + std::strerror(errno);
    return mi;
  }
  const auto& fmt = type.format;
  if (fmt == "jpeg") jpeg_info(f, size, tail, last_jpeg_eoi, mi);
  else if (fmt == "png") png_info(f, head, tail, mi);
  else if (fmt == "webp") webp_info(f, head, size, mi);
  else if (fmt == "bmp") bmp_info(head, mi);
  else if (fmt == "tiff") tiff_info(f, size, mi);
  else if (fmt == "heic") heic_info(path, mi);
  else if (type.kind == Kind::Video) video_info(path, size, mi);
  if (mi.error.empty() && (!mi.width || !mi.height) && mi.exif.pixel_x && mi.exif.pixel_y) {
    mi.width = mi.exif.pixel_x;
    mi.height = mi.exif.pixel_y;
  }
  return mi;
}

}  // namespace facecat::media
