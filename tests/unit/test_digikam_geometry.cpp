// lib/digikam/geometry: display frame <-> stored frame for all 8 EXIF orientations, and the exact strings.
#include <catch2/catch.hpp>

#include "digikam/geometry.hpp"

using namespace facecat::digikam;

namespace {
// An independent model of EXIF orientation: build the displayed image from the stored one pixel by pixel
// (a stored pixel id per position), then find where a stored box ends up by looking at the pixels.
struct Grid {
  int64_t w, h;
  std::vector<int64_t> px;  // row-major ids of stored pixels
};

Grid displayed(Size st, int o) {
  Grid s{st.w, st.h, {}};
  for (int64_t y = 0; y < st.h; ++y)
    for (int64_t x = 0; x < st.w; ++x) s.px.push_back(y * st.w + x);
  auto at = [&](int64_t x, int64_t y) { return s.px[y * s.w + x]; };
  Size d = display_size(st, o);
  Grid g{d.w, d.h, std::vector<int64_t>(d.w * d.h)};
  for (int64_t y = 0; y < d.h; ++y)
    for (int64_t x = 0; x < d.w; ++x) {
      int64_t v = 0;
      // EXIF: which stored row/column is shown at display (x, y)
      switch (o) {
        case 1: v = at(x, y); break;
        case 2: v = at(st.w - 1 - x, y); break;
        case 3: v = at(st.w - 1 - x, st.h - 1 - y); break;
        case 4: v = at(x, st.h - 1 - y); break;
        case 5: v = at(y, x); break;
        case 6: v = at(y, st.h - 1 - x); break;
        case 7: v = at(st.w - 1 - y, st.h - 1 - x); break;
        case 8: v = at(st.w - 1 - y, x); break;
      }
      g.px[y * d.w + x] = v;
    }
  return g;
}

// Bounding box, in the stored frame, of the stored pixels shown inside a display box.
Rect stored_box_by_pixels(const Grid& g, Size st, const Rect& d) {
  int64_t x0 = st.w, y0 = st.h, x1 = -1, y1 = -1;
  for (int64_t y = d.y; y < d.y + d.h; ++y)
    for (int64_t x = d.x; x < d.x + d.w; ++x) {
      int64_t id = g.px[y * g.w + x];
      int64_t sx = id % st.w, sy = id / st.w;
      x0 = std::min(x0, sx), y0 = std::min(y0, sy), x1 = std::max(x1, sx), y1 = std::max(y1, sy);
    }
  return {x0, y0, x1 - x0 + 1, y1 - y0 + 1};
}
}  // namespace

TEST_CASE("digikam geometry: the worked example of docs/digikam.md", "[digikam]") {
  Size st{1000, 800};
  Rect box{100, 50, 80, 100};
  // Orientation 1
  auto s1 = display_to_stored(box, st, 1);
  CHECK(s1 == box);
  CHECK(mp_rectangle_string(mp_rect(s1, st)) == "0.1, 0.0625, 0.08, 0.125");
  auto m1 = mwg_area(s1, st);
  CHECK(format_number(m1.x) == "0.14");
  CHECK(format_number(m1.y) == "0.125");
  CHECK(format_number(m1.w) == "0.08");
  CHECK(format_number(m1.h) == "0.125");
  CHECK(db_rect_string(box) == "<rect x=\"100\" y=\"50\" width=\"80\" height=\"100\"/>");
  // Orientation 6: the same box given in the displayed 800x1000 frame
  CHECK(display_size(st, 6) == Size{800, 1000});
  auto s6 = display_to_stored(box, st, 6);
  CHECK(s6 == Rect{50, 620, 100, 80});
  CHECK(mp_rectangle_string(mp_rect(s6, st)) == "0.05, 0.775, 0.1, 0.1");
  auto m6 = mwg_area(s6, st);
  CHECK(format_number(m6.x) == "0.1");
  CHECK(format_number(m6.y) == "0.825");
  CHECK(format_number(m6.w) == "0.1");
  CHECK(format_number(m6.h) == "0.1");
}

TEST_CASE("digikam geometry: all 8 orientations agree with a pixel-level model and round-trip", "[digikam]") {
  Size st{7, 5};
  const Rect boxes[] = {{0, 0, 1, 1}, {1, 2, 3, 2}, {2, 0, 3, 5}, {0, 1, 5, 1}, {4, 3, 1, 2}};
  for (int o = 1; o <= 8; ++o) {
    Grid g = displayed(st, o);
    Size d = display_size(st, o);
    CHECK(d == Size{g.w, g.h});
    for (auto b : boxes) {
      if (b.x + b.w > d.w || b.y + b.h > d.h) continue;
      INFO("orientation " << o << " box " << b.x << "," << b.y << " " << b.w << "x" << b.h);
      Rect s = display_to_stored(b, st, o);
      CHECK(s == stored_box_by_pixels(g, st, b));
      CHECK(stored_to_display(s, st, o) == b);
      CHECK(s.w * s.h == b.w * b.h);
    }
  }
}

TEST_CASE("digikam geometry: normalized values read back to the same pixels", "[digikam]") {
  Size st{4032, 3024};
  for (int o = 1; o <= 8; ++o) {
    Rect d{1234, 777, 321, 333};
    Rect s = display_to_stored(d, st, o);
    CHECK(from_mp(mp_rect(s, st), st) == s);
    CHECK(from_mwg(mwg_area(s, st), st) == s);
    auto parsed = parse_mp_rectangle(mp_rectangle_string(mp_rect(s, st)));
    REQUIRE(parsed);
    CHECK(from_mp(*parsed, st) == s);
  }
  CHECK_FALSE(parse_mp_rectangle("0.1, 0.2, 0.3"));
  CHECK_FALSE(parse_mp_rectangle("0.1, x, 0.3, 0.4"));
  CHECK(parse_mp_rectangle("0.1,0.2 , 0.3,0.4"));
}

TEST_CASE("digikam geometry: clamping and number format", "[digikam]") {
  CHECK(clamp(Rect{-10, -5, 30, 20}, Size{100, 100}) == Rect{0, 0, 20, 15});
  CHECK(clamp(Rect{90, 95, 30, 20}, Size{100, 100}) == Rect{90, 95, 10, 5});
  CHECK(clamp(Rect{200, 0, 10, 10}, Size{100, 100}).w == 0);
  CHECK(format_number(0) == "0");
  CHECK(format_number(1) == "1");
  CHECK(format_number(0.00001) == "0.00001");
  CHECK(format_number(1.0 / 3.0) == "0.3333333333333333");
}
