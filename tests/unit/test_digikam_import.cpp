// lib/digikam/import: reading regions back (digiKam's tagRegion, MWG/MP XMP at every orientation) and IoU.
#include <catch2/catch.hpp>

#include "digikam/import.hpp"
#include "digikam/xmp.hpp"

using namespace facecat::digikam;

TEST_CASE("digikam import: tagRegion rectangles", "[digikam]") {
  auto r = parse_db_rect(R"(<rect x="100" y="50" width="80" height="100"/>)");
  REQUIRE(r);
  CHECK(*r == Rect{100, 50, 80, 100});
  CHECK_FALSE(parse_db_rect(R"(<rect x="100" y="50" width="0" height="100"/>)"));
  CHECK_FALSE(parse_db_rect(R"(<rect x="a" y="50" width="80" height="100"/>)"));
  CHECK_FALSE(parse_db_rect("<rect x=\"1\""));
  CHECK_FALSE(parse_db_rect(""));
}

TEST_CASE("digikam import: IoU", "[digikam]") {
  CHECK(iou({0, 0, 10, 10}, {0, 0, 10, 10}) == Approx(1.0));
  CHECK(iou({0, 0, 10, 10}, {5, 0, 10, 10}) == Approx(50.0 / 150.0));
  CHECK(iou({0, 0, 10, 10}, {10, 0, 10, 10}) == 0.0);
}

TEST_CASE("digikam import: regions written by facecat's export read back in the displayed frame", "[digikam]") {
  // The worked example of ../shared/docs/digikam.md: box (100, 50, 80, 100) in the displayed frame of a photo
  // stored as 1000x800, at every orientation. facecat's own regions are skipped, so the marker is renamed here.
  const Size stored{1000, 800};
  const Rect box{100, 50, 80, 100};
  for (int o = 1; o <= 8; ++o) {
    XmpContent c;
    c.stored = stored;
    c.orientation = o;
    c.regions.push_back({std::string("Alice"), display_to_stored(box, stored, o)});
    c.regions.push_back({std::nullopt, display_to_stored(Rect{300, 300, 50, 50}, stored, o)});
    auto m = merge_sidecar(nullptr, c);
    REQUIRE(m);
    std::string xml = m->xml;  // as another tool wrote it: the facecat namespace becomes some other one
    const std::string ns = kFacecatNs;
    for (size_t p; (p = xml.find(ns)) != std::string::npos;) xml.replace(p, ns.size(), "http://other.invalid/ns/");
    auto rs = regions_from_xmp(xml, stored, o);
    REQUIRE(rs);
    INFO("orientation " << o);
    REQUIRE(rs->size() == 2);  // MWG and MP of one face count once
    CHECK((*rs)[0].kind == RegionKind::Named);
    CHECK((*rs)[0].name == "Alice");
    CHECK((*rs)[0].display == box);
    CHECK((*rs)[1].kind == RegionKind::Unnamed);
    CHECK((*rs)[1].display == Rect{300, 300, 50, 50});
    // With the marker, nothing comes back.
    auto ours = regions_from_xmp(m->xml, stored, o);
    REQUIRE(ours);
    CHECK(ours->empty());
  }
}

TEST_CASE("digikam import: malformed XMP is an error, not a crash", "[digikam]") {
  CHECK_FALSE(regions_from_xmp("<x:xmpmeta", {1000, 800}, 1));
  CHECK_FALSE(regions_from_xmp("<a/>", {1000, 800}, 1));
}
