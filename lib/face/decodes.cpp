// Decodes: the decodes of one image that the analysis stages share (detector.hpp).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <spdlog/spdlog.h>

#include "face/detector.hpp"

namespace facecat::face::detail {

const Decoded* Decodes::whole(int want) const {
  const Decoded* best = nullptr;
  for (const auto& d : v_)
    if (d->reduction <= want && (!best || d->reduction > best->reduction)) best = d.get();
  return best;
}

Result<const Decoded*> Decodes::at_most(int want) {
  if (const Decoded* d = whole(want)) return d;
  auto d = decode_image(bytes_, hdr_, want);
  if (!d) return d.error();
  v_.push_back(std::make_unique<Decoded>(std::move(*d)));
  return v_.back().get();
}

const Patch* Decodes::patch(int want, const cv::Rect& r) const {
  const Patch* best = nullptr;
  for (const auto& p : patches_) {
    if (p.reduction > want || (best && p.reduction <= best->reduction)) continue;
    const cv::Rect s = scaled_out(r, p.sx, p.sy);  // r lies in the frame (need() and view() clip it)
    const cv::Rect have(p.x0, p.y0, p.bgr.cols, p.bgr.rows);
    if ((s & have) == s || (s.area() == 0 && have.contains(s.tl()))) best = &p;
  }
  return best;
}

Result<void> Decodes::whole_decode(int want) {
  auto d = at_most(want);
  if (!d) return d.error();
  return {};
}

Result<void> Decodes::need(int want, const std::vector<cv::Rect>& rects, int full_width, int full_height) {
  if (whole(want)) return {};
  if (hdr_.format != "jpeg" || !regions_ok_) return whole_decode(want);
  if (orientation_ == 0) {
    orientation_ = jpeg_exif_orientation(bytes_);
    // OpenCV applied the orientation it read: if its frame is not turned as this one says, trust neither
    const bool swapped = hdr_.width != full_width || hdr_.height != full_height;
    if (hdr_.width != hdr_.height && swapped != (orientation_ >= 5)) {
      spdlog::debug("region decode: EXIF orientation {} does not match the decoded frame; whole decodes", orientation_);
      regions_ok_ = false;
      return whole_decode(want);
    }
  }
  full_ = cv::Rect(0, 0, full_width, full_height);
  std::vector<cv::Rect> missing;
  for (const auto& r : rects) {
    const cv::Rect c = r & full_;
    if (c.area() > 0 && !patch(want, c)) missing.push_back(c);
  }
  if (missing.empty()) return {};
  const auto t0 = std::chrono::steady_clock::now();
  auto got = decode_jpeg_regions(bytes_, orientation_, want, full_width, full_height, missing);
  if (!got) {
    spdlog::debug("{}; whole decodes", got.error().message);
    regions_ok_ = false;
    return whole_decode(want);
  }
  double px = 0;
  for (auto& p : *got) {
    px += double(p.bgr.total());
    patches_.push_back(std::move(p));
  }
  spdlog::debug("region decode at 1/{}: {} of {} region(s) missing, {} patch(es), {:.2f} Mpx, {:.1f} ms", want,
                missing.size(), rects.size(), got->size(), px / 1e6,
                std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  return {};
}

Result<Decodes::View> Decodes::view(int want, const cv::Rect& r) const {
  View v;
  if (const Decoded* d = whole(want)) {
    v.img = d->bgr;
    v.sx = double(d->bgr.cols) / d->full_width;
    v.sy = double(d->bgr.rows) / d->full_height;
    v.reduction = d->reduction;
    return v;
  }
  const Patch* p = patch(want, r & full_);
  if (!p) return make_error("internal: no decode covers a face region");
  v.img = p->bgr;
  v.sx = p->sx;
  v.sy = p->sy;
  v.ox = p->x0;
  v.oy = p->y0;
  v.reduction = p->reduction;
  return v;
}

}  // namespace facecat::face::detail
