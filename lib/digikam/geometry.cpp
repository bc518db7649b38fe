#include "digikam/geometry.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <utility>

#include "util/text.hpp"

namespace facecat::digikam {

bool valid_orientation(int o) { return o >= 1 && o <= 8; }

Size display_size(Size stored, int orientation) {
  if (orientation >= 5 && orientation <= 8) return {stored.h, stored.w};
  return stored;
}

namespace {

struct Point {
  int64_t x, y;
};

// Where a stored-frame point lands in the display frame (continuous corner coordinates, so a box maps to a box).
// EXIF: 2 mirrors left-right, 3 turns 180°, 4 mirrors top-bottom, 5 transposes, 6 turns 90° clockwise,
// 7 transverses, 8 turns 90° counter-clockwise.
Point to_display(Point s, Size st, int o) {
  const int64_t W = st.w, H = st.h;
  switch (o) {
    case 2: return {W - s.x, s.y};
    case 3: return {W - s.x, H - s.y};
    case 4: return {s.x, H - s.y};
    case 5: return {s.y, s.x};
    case 6: return {H - s.y, s.x};
    case 7: return {H - s.y, W - s.x};
    case 8: return {s.y, W - s.x};
    default: return s;
  }
}

// The inverse of to_display.
Point to_stored(Point d, Size st, int o) {
  const int64_t W = st.w, H = st.h;
  switch (o) {
    case 2: return {W - d.x, d.y};
    case 3: return {W - d.x, H - d.y};
    case 4: return {d.x, H - d.y};
    case 5: return {d.y, d.x};
    case 6: return {d.y, H - d.x};
    case 7: return {W - d.y, H - d.x};
    case 8: return {W - d.y, d.x};
    default: return d;
  }
}

template <class F>
Rect map_box(const Rect& r, F f) {
  Point a = f(Point{r.x, r.y});
  Point b = f(Point{r.x + r.w, r.y + r.h});
  return Rect{std::min(a.x, b.x), std::min(a.y, b.y), std::llabs(b.x - a.x), std::llabs(b.y - a.y)};
}

}  // namespace

Rect display_to_stored(const Rect& r, Size stored, int o) {
  return map_box(r, [&](Point p) { return to_stored(p, stored, o); });
}

Rect stored_to_display(const Rect& r, Size stored, int o) {
  return map_box(r, [&](Point p) { return to_display(p, stored, o); });
}

double iou(const Rect& a, const Rect& b) {
  const int64_t x0 = std::max(a.x, b.x), y0 = std::max(a.y, b.y);
  const int64_t x1 = std::min(a.x + a.w, b.x + b.w), y1 = std::min(a.y + a.h, b.y + b.h);
  if (x1 <= x0 || y1 <= y0) return 0;
  const double inter = double(x1 - x0) * double(y1 - y0);
  const double uni = double(a.w) * double(a.h) + double(b.w) * double(b.h) - inter;
  return uni > 0 ? inter / uni : 0;
}

Rect clamp(const Rect& r, Size f) {
  int64_t x0 = std::clamp<int64_t>(r.x, 0, f.w), y0 = std::clamp<int64_t>(r.y, 0, f.h);
  int64_t x1 = std::clamp<int64_t>(r.x + std::max<int64_t>(r.w, 0), 0, f.w);
  int64_t y1 = std::clamp<int64_t>(r.y + std::max<int64_t>(r.h, 0), 0, f.h);
  return Rect{x0, y0, x1 - x0, y1 - y0};
}

// Every value is one division of two exact integers, so it is the double nearest the true ratio and prints as
// the short decimal when there is one (0.14, not 0.14000000000000001 from 0.1 + 0.04).
Normalized mp_rect(const Rect& b, Size s) {
  auto W = static_cast<double>(s.w), H = static_cast<double>(s.h);
  return {static_cast<double>(b.x) / W, static_cast<double>(b.y) / H, static_cast<double>(b.w) / W,
          static_cast<double>(b.h) / H};
}

Normalized mwg_area(const Rect& b, Size s) {
  auto W = static_cast<double>(s.w), H = static_cast<double>(s.h);
  return {static_cast<double>(2 * b.x + b.w) / (2 * W), static_cast<double>(2 * b.y + b.h) / (2 * H),
          static_cast<double>(b.w) / W, static_cast<double>(b.h) / H};
}

Rect from_mp(const Normalized& n, Size s) {
  auto W = static_cast<double>(s.w), H = static_cast<double>(s.h);
  return Rect{std::llround(n.x * W), std::llround(n.y * H), std::llround(n.w * W), std::llround(n.h * H)};
}

Rect from_mwg(const Normalized& n, Size s) {
  auto W = static_cast<double>(s.w), H = static_cast<double>(s.h);
  return Rect{std::llround((n.x - n.w / 2) * W), std::llround((n.y - n.h / 2) * H), std::llround(n.w * W),
              std::llround(n.h * H)};
}

std::string format_number(double v) {
  if (v == 0) return "0";  // also turns -0 into 0
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);  // shortest round-trip form, locale-independent
  std::string s(buf, r.ptr);
  // to_chars may pick scientific notation for tiny values (1e-05); readers of XMP expect plain decimals.
  if (s.find('e') != std::string::npos) {
    r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed);
    s.assign(buf, r.ptr);
  }
  return s;
}

std::string mp_rectangle_string(const Normalized& n) {
  return format_number(n.x) + ", " + format_number(n.y) + ", " + format_number(n.w) + ", " + format_number(n.h);
}

std::optional<Normalized> parse_mp_rectangle(const std::string& s) {
  auto parts = util::split(s, ',', false);
  if (parts.size() != 4) return std::nullopt;
  double v[4];
  for (int i = 0; i < 4; ++i) {
    auto d = util::parse_double(util::trim(parts[i]));
    if (!d || !std::isfinite(*d)) return std::nullopt;
    v[i] = *d;
  }
  return Normalized{v[0], v[1], v[2], v[3]};
}

std::string db_rect_string(const Rect& r) {
  return "<rect x=\"" + std::to_string(r.x) + "\" y=\"" + std::to_string(r.y) + "\" width=\"" + std::to_string(r.w) +
         "\" height=\"" + std::to_string(r.h) + "\"/>";
}

}  // namespace facecat::digikam
