// Decoding only the parts of a JPEG that the later stages need (issue 14, step 5): libjpeg-turbo's
// jpeg_crop_scanline (columns) and jpeg_skip_scanlines (rows: entropy decoding only, no IDCT, upsampling or colour
// conversion) in one pass over the file, at a DCT scaling of 1/1..1/8. The pixels inside a region are the ones a
// full decode gives (the same libjpeg, the same defaults as OpenCV's decoder: ISLOW DCT, fancy upsampling, BGR);
// only the first/last row or column of a region may differ slightly where fancy upsampling lacks its neighbour,
// which is why callers ask for margins around a face.
#include <algorithm>
#include <cmath>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <libexif/exif-data.h>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <string>
#include <vector>

#include <jpeglib.h>

#include "face/image_decode.hpp"

namespace facecat::face::detail {
namespace {

struct ErrorMgr {
  jpeg_error_mgr pub;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

extern "C" void region_error_exit(j_common_ptr cinfo) {
  auto* e = reinterpret_cast<ErrorMgr*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, e->message);
  std::longjmp(e->jump, 1);
}
extern "C" void region_quiet(j_common_ptr, int) {}  // warnings were reported by the detection decode

// A region in stored-frame pixels of the reduced decode: [x0, x1) × [y0, y1).
struct SRect {
  int x0 = 0, y0 = 0, x1 = 0, y1 = 0;
};

// Display rect (reduced pixels, display frame of size dw×dh) -> stored rect (stored frame of size sw×sh).
SRect to_stored(int o, SRect d, int sw, int sh) {
  switch (o) {
    case 2: return {sw - d.x1, d.y0, sw - d.x0, d.y1};
    case 3: return {sw - d.x1, sh - d.y1, sw - d.x0, sh - d.y0};
    case 4: return {d.x0, sh - d.y1, d.x1, sh - d.y0};
    case 5: return {d.y0, d.x0, d.y1, d.x1};
    case 6: return {d.y0, sh - d.x1, d.y1, sh - d.x0};
    case 7: return {sw - d.y1, sh - d.x1, sw - d.y0, sh - d.x0};
    case 8: return {sw - d.y1, d.x0, sw - d.y0, d.x1};
    default: return d;
  }
}

// Stored-frame pixels -> display-frame pixels, as OpenCV's decoder applies EXIF orientation.
cv::Mat to_display(int o, const cv::Mat& s) {
  cv::Mat d;
  switch (o) {
    case 2: cv::flip(s, d, 1); break;
    case 3: cv::flip(s, d, -1); break;
    case 4: cv::flip(s, d, 0); break;
    case 5: cv::transpose(s, d); break;
    case 6: cv::transpose(s, d); cv::flip(d, d, 1); break;
    case 7: cv::transpose(s, d); cv::flip(d, d, -1); break;
    case 8: cv::transpose(s, d); cv::flip(d, d, 0); break;
    default: d = s.clone(); break;
  }
  return d;
}

// The plain-C part: everything that a longjmp may cross holds no C++ object with a destructor. rows_out[k] is
// filled with the stored rows [band_y0[k], band_y1[k]) of columns [*x0, *x0 + *w) (BGR or gray, 8 bits).
struct Plan {
  int reduction = 1;
  int want_x0 = 0, want_x1 = 0;        // stored reduced columns wanted
  const int* band_y0 = nullptr;
  const int* band_y1 = nullptr;
  unsigned char** band_px = nullptr;   // caller-allocated: (y1 - y0) rows of out_w * channels bytes each
  int bands = 0;
};
struct Header {
  int out_w = 0, out_h = 0, channels = 0;
  int crop_x0 = 0, crop_w = 0;
};

// Phase 1 (header) and phase 2 (pixels) share the decompressor; `stage` says how far to go.
int run_libjpeg(const std::string& bytes, int reduction, const Plan* plan, Header* hdr, char* msg, size_t msg_size) {
  jpeg_decompress_struct cinfo;
  ErrorMgr err;
  std::memset(&cinfo, 0, sizeof cinfo);
  cinfo.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = region_error_exit;
  err.pub.emit_message = region_quiet;
  err.message[0] = 0;
  if (setjmp(err.jump)) {
    std::snprintf(msg, msg_size, "%s", err.message);
    jpeg_destroy_decompress(&cinfo);
    return -1;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<unsigned long>(bytes.size()));
  jpeg_read_header(&cinfo, TRUE);
  if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK ||
      (cinfo.num_components != 1 && cinfo.num_components != 3)) {
    std::snprintf(msg, msg_size, "colour space not handled by the region decoder");
    jpeg_destroy_decompress(&cinfo);
    return -2;
  }
  const bool gray = cinfo.num_components == 1;
  cinfo.out_color_space = gray ? JCS_GRAYSCALE : JCS_EXT_BGR;
  cinfo.scale_num = 1;
  cinfo.scale_denom = static_cast<unsigned>(reduction);
  jpeg_calc_output_dimensions(&cinfo);
  hdr->out_w = static_cast<int>(cinfo.output_width);
  hdr->out_h = static_cast<int>(cinfo.output_height);
  hdr->channels = gray ? 1 : 3;
  if (!plan) {
    jpeg_destroy_decompress(&cinfo);
    return 0;
  }
  jpeg_start_decompress(&cinfo);
  JDIMENSION xoff = static_cast<JDIMENSION>(plan->want_x0), w = static_cast<JDIMENSION>(plan->want_x1 - plan->want_x0);
  if (xoff > 0 || static_cast<int>(w) < hdr->out_w) jpeg_crop_scanline(&cinfo, &xoff, &w);
  hdr->crop_x0 = static_cast<int>(xoff);
  hdr->crop_w = static_cast<int>(w);
  for (int k = 0; k < plan->bands; ++k) {
    const JDIMENSION y0 = static_cast<JDIMENSION>(plan->band_y0[k]), y1 = static_cast<JDIMENSION>(plan->band_y1[k]);
    if (cinfo.output_scanline < y0) jpeg_skip_scanlines(&cinfo, y0 - cinfo.output_scanline);
    const size_t stride = static_cast<size_t>(w) * static_cast<size_t>(hdr->channels);
    while (cinfo.output_scanline < y1) {
      JSAMPROW row = plan->band_px[k] + static_cast<size_t>(cinfo.output_scanline - y0) * stride;
      jpeg_read_scanlines(&cinfo, &row, 1);
    }
  }
  jpeg_abort_decompress(&cinfo);  // the rest of the file is not needed
  jpeg_destroy_decompress(&cinfo);
  return 0;
}

}  // namespace

cv::Rect scaled_out(const cv::Rect& r, double sx, double sy) {
  const int x0 = int(std::floor(r.x * sx + 1e-9)), y0 = int(std::floor(r.y * sy + 1e-9));
  const int x1 = int(std::ceil((r.x + r.width) * sx - 1e-9)), y1 = int(std::ceil((r.y + r.height) * sy - 1e-9));
  return {x0, y0, x1 - x0, y1 - y0};
}

int jpeg_exif_orientation(const std::string& bytes) {
  ExifData* ed = exif_data_new_from_data(reinterpret_cast<const unsigned char*>(bytes.data()),
                                         static_cast<unsigned int>(std::min<size_t>(bytes.size(), 1u << 30)));
  if (!ed) return 1;
  int o = 1;
  if (ExifEntry* e = exif_content_get_entry(ed->ifd[EXIF_IFD_0], EXIF_TAG_ORIENTATION);
      e && e->format == EXIF_FORMAT_SHORT && e->components >= 1) {
    const int v = exif_get_short(e->data, exif_data_get_byte_order(ed));
    if (v >= 1 && v <= 8) o = v;
  }
  exif_data_unref(ed);
  return o;
}

Result<std::vector<Patch>> decode_jpeg_regions(const std::string& bytes, int orientation, int reduction,
                                               int full_width, int full_height, const std::vector<cv::Rect>& rects) {
  char msg[JMSG_LENGTH_MAX + 64] = {0};
  Header h;
  if (run_libjpeg(bytes, reduction, nullptr, &h, msg, sizeof msg) != 0)
    return make_error(std::string("region decode: ") + msg);
  const bool swap = orientation >= 5;
  const int dw = swap ? h.out_h : h.out_w, dh = swap ? h.out_w : h.out_h;  // display frame, reduced
  const double sx = double(dw) / full_width, sy = double(dh) / full_height;
  // 1. the regions at the reduced scale in the display frame, clipped; overlapping ones merged
  std::vector<SRect> disp;
  for (const auto& r : rects) {
    const cv::Rect s = scaled_out(r, sx, sy);  // as Decodes looks its patches up
    SRect d{s.x, s.y, s.x + s.width, s.y + s.height};
    d.x0 = std::max(0, d.x0);
    d.y0 = std::max(0, d.y0);
    d.x1 = std::min(dw, d.x1);
    d.y1 = std::min(dh, d.y1);
    if (d.x1 > d.x0 && d.y1 > d.y0) disp.push_back(d);
  }
  for (bool merged = true; merged;) {
    merged = false;
    for (size_t i = 0; i < disp.size() && !merged; ++i)
      for (size_t j = i + 1; j < disp.size(); ++j) {
        const SRect &a = disp[i], &b = disp[j];
        if (a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1) {
          disp[i] = {std::min(a.x0, b.x0), std::min(a.y0, b.y0), std::max(a.x1, b.x1), std::max(a.y1, b.y1)};
          disp.erase(disp.begin() + long(j));
          merged = true;
          break;
        }
      }
  }
  std::vector<Patch> out;
  if (disp.empty()) return out;
  // 2. in the stored frame: the column range and the row bands (merged row intervals) one pass reads
  std::vector<SRect> st;
  for (const auto& d : disp) st.push_back(to_stored(orientation, d, h.out_w, h.out_h));
  int x0 = h.out_w, x1 = 0;
  std::vector<std::pair<int, int>> rows;
  for (const auto& s : st) {
    x0 = std::min(x0, s.x0);
    x1 = std::max(x1, s.x1);
    rows.push_back({s.y0, s.y1});
  }
  std::sort(rows.begin(), rows.end());
  std::vector<int> by0, by1;
  for (const auto& [a, b] : rows)
    if (!by0.empty() && a <= by1.back())
      by1.back() = std::max(by1.back(), b);
    else {
      by0.push_back(a);
      by1.push_back(b);
    }
  // 3. one pass; the buffers are allocated here, outside the part a libjpeg error may jump out of.
  // jpeg_crop_scanline widens the columns to whole iMCUs (at most one iMCU on each side): allocate for that.
  const int max_w = std::min(h.out_w, (x1 - x0) + 2 * 64);
  std::vector<cv::Mat> bands;
  std::vector<unsigned char*> px;
  for (size_t k = 0; k < by0.size(); ++k) {
    bands.emplace_back(by1[k] - by0[k], max_w, h.channels == 1 ? CV_8UC1 : CV_8UC3);
    px.push_back(bands.back().data);
  }
  Plan plan;
  plan.reduction = reduction;
  plan.want_x0 = x0;
  plan.want_x1 = x1;
  plan.band_y0 = by0.data();
  plan.band_y1 = by1.data();
  plan.band_px = px.data();
  plan.bands = int(by0.size());
  // rows are written with the cropped width as stride: the Mats are re-viewed below once that width is known
  if (run_libjpeg(bytes, reduction, &plan, &h, msg, sizeof msg) != 0)
    return make_error(std::string("region decode: ") + msg);
  if (h.crop_w > max_w || h.crop_x0 > x0 || h.crop_x0 + h.crop_w < x1)
    return make_error("region decode: unexpected crop from libjpeg");
  // 4. each region: its rows from its band, turned into the display frame
  for (size_t i = 0; i < st.size(); ++i) {
    const SRect& s = st[i];
    size_t k = 0;
    while (k + 1 < by0.size() && !(s.y0 >= by0[k] && s.y1 <= by1[k])) ++k;
    cv::Mat band(by1[k] - by0[k], h.crop_w, bands[k].type(), bands[k].data,
                 size_t(h.crop_w) * size_t(h.channels));
    cv::Mat part = band(cv::Rect(s.x0 - h.crop_x0, s.y0 - by0[k], s.x1 - s.x0, s.y1 - s.y0));
    Patch p;
    cv::Mat d = to_display(orientation, part);
    if (h.channels == 1) cv::cvtColor(d, p.bgr, cv::COLOR_GRAY2BGR);
    else p.bgr = d;
    p.x0 = disp[i].x0;
    p.y0 = disp[i].y0;
    p.sx = sx;
    p.sy = sy;
    p.reduction = reduction;
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace facecat::face::detail
