#include "media/container.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "util/pread_file.hpp"

namespace facecat::media {
namespace {

using Reader = util::PreadFile;

uint64_t be(const std::string& s, size_t o, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; ++i) v = (v << 8) | static_cast<uint8_t>(s[o + i]);
  return v;
}
uint32_t le32(const std::string& s, size_t o) {
  return static_cast<uint8_t>(s[o]) | (static_cast<uint8_t>(s[o + 1]) << 8) | (static_cast<uint8_t>(s[o + 2]) << 16) |
         (static_cast<uint32_t>(static_cast<uint8_t>(s[o + 3])) << 24);
}

// ---- ISO BMFF (MP4, MOV) --------------------------------------------------------------------------------------
struct Mp4 {
  const Reader& r;
  uint64_t size;
  ContainerInfo& out;
  bool has_moov = false;
  int boxes = 0;
  int64_t coded_w = 0, coded_h = 0;  // from the video sample entry: the stored (coded) size

  // stsd: version/flags, entry count, then sample entries; a VisualSampleEntry has width/height at +32.
  void stsd(uint64_t off, uint64_t len) {
    auto b = r.read(off, static_cast<size_t>(std::min<uint64_t>(len, 64)));
    if (b.size() < 8 + 36) return;
    std::string fourcc = b.substr(12, 4);
    static const char* audio[] = {"mp4a", "ac-3", "ec-3", "Opus", "fLaC", "alac", "samr", "sowt", "twos", "lpcm", ".mp3"};
    for (const char* a : audio)
      if (fourcc == a) return;
    int64_t w = static_cast<int64_t>(be(b, 8 + 32, 2)), h = static_cast<int64_t>(be(b, 8 + 34, 2));
    if (w > 0 && h > 0) {
      coded_w = w;
      coded_h = h;
    }
  }

  // Walks boxes in [begin, end); descends into containers that lead to tkhd.
  void walk(uint64_t begin, uint64_t end, int depth) {
    uint64_t off = begin;
    while (off + 8 <= end && ++boxes < 100000 && depth < 8) {
      auto h = r.read(off, 16);
      if (h.size() < 8) {
        out.error = "truncated MP4: box header past the end of the file";
        return;
      }
      uint64_t len = be(h, 0, 4);
      std::string type = h.substr(4, 4);
      uint64_t hdr = 8;
      if (len == 1) {
        if (h.size() < 16) {
          out.error = "truncated MP4";
          return;
        }
        len = be(h, 8, 8);
        hdr = 16;
      } else if (len == 0) {
        len = end - off;  // to the end of the enclosing box
      }
      if (len < hdr) {
        out.error = "corrupt MP4: box '" + type + "' has an impossible size";
        return;
      }
      if (off + len > end) {
        out.error = "truncated MP4: box '" + type + "' runs past the end of the file";
        return;
      }
      if (type == "moov") has_moov = true;
      if (type == "moov" || type == "trak" || type == "mdia" || type == "minf" || type == "stbl")
        walk(off + hdr, off + len, depth + 1);
      if (type == "tkhd" && !out.width) tkhd(off + hdr, len - hdr);
      if (type == "stsd" && !coded_w) stsd(off + hdr, len - hdr);
      if (!out.error.empty()) return;
      off += len;
    }
  }

  void tkhd(uint64_t off, uint64_t len) {
    auto b = r.read(off, static_cast<size_t>(std::min<uint64_t>(len, 128)));
    if (b.size() < 4) return;
    int version = static_cast<uint8_t>(b[0]);
    size_t matrix = version == 1 ? 52 : 40;  // after version/flags, times, track id, duration, layer, volume
    size_t wh = matrix + 36;
    if (b.size() < wh + 8) return;
    uint64_t w = be(b, wh, 4) >> 16, h = be(b, wh + 4, 4) >> 16;
    if (w == 0 || h == 0) return;  // an audio track
    out.width = static_cast<int64_t>(w);
    out.height = static_cast<int64_t>(h);
    auto a = static_cast<int32_t>(be(b, matrix, 4)), bb = static_cast<int32_t>(be(b, matrix + 4, 4));
    if (a == 0 && bb > 0) out.rotation = 90;
    else if (a == 0 && bb < 0) out.rotation = 270;
    else if (a < 0) out.rotation = 180;
    else out.rotation = 0;
  }
};

// ---- Matroska / WebM ------------------------------------------------------------------------------------------
struct Ebml {
  const Reader& r;
  uint64_t size;
  ContainerInfo& out;
  int elements = 0;

  // Reads a variable-length integer at off; returns its length (0 on error).
  int vint(uint64_t off, uint64_t& value, bool keep_marker) {
    auto b = r.read(off, 8);
    if (b.empty()) return 0;
    uint8_t first = static_cast<uint8_t>(b[0]);
    int len = 1;
    while (len <= 8 && !(first & (0x80 >> (len - 1)))) ++len;
    if (len > 8 || static_cast<int>(b.size()) < len) return 0;
    value = keep_marker ? first : (first & (0xFF >> len));
    for (int i = 1; i < len; ++i) value = (value << 8) | static_cast<uint8_t>(b[i]);
    return len;
  }

  void walk(uint64_t begin, uint64_t end, int depth) {
    uint64_t off = begin;
    while (off < end && ++elements < 200000 && depth < 8) {
      uint64_t id = 0, len = 0;
      int il = vint(off, id, true);
      if (!il) {
        out.error = "truncated Matroska: element header past the end";
        return;
      }
      int ll = vint(off + il, len, false);
      if (!ll) {
        out.error = "truncated Matroska: element size past the end";
        return;
      }
      uint64_t data = off + il + ll;
      bool unknown_size = len == (1ull << (7 * ll)) - 1;
      if (unknown_size) len = end - data;
      if (data + len > end) {
        if (id == 0x18538067) len = end - data;  // a Segment cut short: read what is there
        else {
          out.error = "truncated Matroska: an element runs past the end of the file";
          return;
        }
      }
      // Segment, Tracks, TrackEntry, Video: descend. PixelWidth (B0), PixelHeight (BA): read.
      if (id == 0x18538067 || id == 0x1654AE6B || id == 0xAE || id == 0xE0) walk(data, data + len, depth + 1);
      if ((id == 0xB0 || id == 0xBA) && len >= 1 && len <= 8) {
        auto b = r.read(data, static_cast<size_t>(len));
        if (b.size() == len) {
          int64_t v = static_cast<int64_t>(be(b, 0, static_cast<int>(len)));
          if (id == 0xB0 && !out.width) out.width = v;
          if (id == 0xBA && !out.height) out.height = v;
        }
      }
      if (!out.error.empty() || (out.width && out.height)) return;
      if (id == 0x1F43B675) return;  // Cluster: media data starts, tracks come before it
      off = data + len;
    }
  }
};

}  // namespace

ContainerInfo read_container(const std::filesystem::path& path, const std::string& format, uint64_t size) {
  ContainerInfo out;
  Reader r(path);
  if (!r.ok()) {
    out.error = std::string("cannot open: ") + std::strerror(errno);
    return out;
  }
  if (format == "mp4" || format == "mov") {
    Mp4 m{r, size, out};
    m.walk(0, size, 0);
    if (m.coded_w > 0) {  // prefer the coded size over tkhd's presentation size (anamorphic video)
      out.width = m.coded_w;
      out.height = m.coded_h;
    }
    if (out.error.empty() && !m.has_moov) out.error = "corrupt or truncated video: no 'moov' header box";
    else if (out.error.empty() && !out.width) out.error = "no video track (audio only?)";
  } else if (format == "mkv" || format == "webm") {
    Ebml e{r, size, out};
    e.walk(0, size, 0);
    if (out.error.empty() && (!out.width || !out.height)) out.error = "no video track with a frame size";
  } else if (format == "avi") {
    auto h = r.read(0, 64 + 12);
    // RIFF....AVI LIST....hdrlavih<len><MainAVIHeader>: dwWidth at +32, dwHeight at +36 of avih's data.
    if (h.size() < 76 || h.compare(12, 4, "LIST") != 0 || h.compare(20, 4, "hdrl") != 0 || h.compare(24, 4, "avih") != 0) {
      out.error = "corrupt AVI: no main header";
    } else {
      out.width = le32(h, 32 + 32);
      out.height = le32(h, 32 + 36);
      if (*out.width <= 0 || *out.height <= 0) out.error = "corrupt AVI: zero frame size";
      uint64_t riff = le32(h, 4) + 8ull;
      if (out.error.empty() && riff > size) out.error = "truncated AVI: RIFF size is larger than the file";
    }
  }
  return out;
}

}  // namespace facecat::media
