// Face boxes between the catalog's display frame and the stored (unrotated) frame that XMP regions refer to,
// and the exact text digiKam reads back: MWG (centre-based), MP (top-left) and the database's tagRegion.
//
// The catalog keeps faces in the DISPLAY frame (EXIF orientation applied). XMP regions are normalized to the
// STORED frame: digiKam applies the orientation itself when it reads them. digiKam's database keeps
// display-frame pixels. See ../shared/docs/digikam.md for the worked example the unit tests check.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

namespace facecat::digikam {

struct Size {
  int64_t w = 0, h = 0;
  bool operator==(const Size&) const = default;
};

// A pixel box: x,y top-left, w,h extent (half-open [x, x+w) × [y, y+h)).
struct Rect {
  int64_t x = 0, y = 0, w = 0, h = 0;
  bool operator==(const Rect&) const = default;
};

// Normalized (0..1) coordinates; for MP x,y is the top-left corner, for MWG the centre.
struct Normalized {
  double x = 0, y = 0, w = 0, h = 0;
};

bool valid_orientation(int orientation);  // EXIF 1..8
// The frame a viewer shows: orientations 5..8 swap width and height.
Size display_size(Size stored, int orientation);
// Exact integer transforms (no rounding happens: both frames are pixel grids).
Rect display_to_stored(const Rect& display_box, Size stored, int orientation);
Rect stored_to_display(const Rect& stored_box, Size stored, int orientation);
// Intersection over union of two boxes (0 when they do not overlap).
double iou(const Rect& a, const Rect& b);
// The part of r inside a frame of this size (w or h 0 when nothing is left).
Rect clamp(const Rect& r, Size frame);

Normalized mp_rect(const Rect& stored_box, Size stored);    // top-left based
Normalized mwg_area(const Rect& stored_box, Size stored);   // centre based
// Back to pixels the way a reader does it (rounded to the nearest pixel).
Rect from_mp(const Normalized& n, Size stored);
Rect from_mwg(const Normalized& n, Size stored);

// The shortest decimal that reads back as the same double, in the classic locale: 0.1, 0.0625, 0.14.
std::string format_number(double v);
// MPReg:Rectangle: "x, y, w, h".
std::string mp_rectangle_string(const Normalized& n);
// Parses "x, y, w, h" (as written by any tool); nullopt when malformed.
std::optional<Normalized> parse_mp_rectangle(const std::string& s);
// digiKam's ImageTagProperties tagRegion value: <rect x="100" y="50" width="80" height="100"/>.
std::string db_rect_string(const Rect& display_box);

}  // namespace facecat::digikam
