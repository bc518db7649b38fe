// lib/digikam/xmp: sidecar merging keeps what is not facecat's and replaces what is, byte-stably.
#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>

#include "digikam/xmp.hpp"

using namespace facecat::digikam;

namespace {
XmpContent content(std::vector<std::pair<std::optional<std::string>, Rect>> regions) {
  XmpContent c;
  c.stored = {1000, 800};
  for (auto& [n, r] : regions) {
    c.regions.push_back({n, r});
    if (n) c.people.push_back(*n);
  }
  return c;
}

std::string merge(const std::string* existing, const XmpContent& c) {
  auto r = merge_sidecar(existing, c);
  REQUIRE(r);
  return r->xml;
}

// The XML without its indentation, for checks on structure.
std::string squash(const std::string& xml) {
  std::string out;
  for (size_t i = 0; i < xml.size(); ++i) {
    if (xml[i] == '\n') {
      while (i + 1 < xml.size() && xml[i + 1] == ' ') ++i;
      continue;
    }
    out += xml[i];
  }
  return out;
}

size_t count(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (size_t p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + 1)) ++n;
  return n;
}

const char* kForeign = R"(<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:Rating="4"
    xmlns:mwg="http://www.metadataworkinggroup.com/schemas/regions/"
    xmlns:A="http://ns.adobe.com/xmp/sType/Area#" xmlns:D="http://ns.adobe.com/xap/1.0/sType/Dimensions#">
   <dc:title><rdf:Alt><rdf:li xml:lang="x-default">Summer &amp; sea</rdf:li></rdf:Alt></dc:title>
   <dc:subject><rdf:Bag><rdf:li>Holiday</rdf:li></rdf:Bag></dc:subject>
   <mwg:Regions rdf:parseType="Resource">
    <mwg:AppliedToDimensions rdf:parseType="Resource"><D:w>1000</D:w><D:h>800</D:h><D:unit>pixel</D:unit></mwg:AppliedToDimensions>
    <mwg:RegionList><rdf:Bag>
     <rdf:li><rdf:Description mwg:Name="Other Tool Person" mwg:Type="Face">
      <mwg:Area A:x="0.5" A:y="0.5" A:w="0.1" A:h="0.1" A:unit="normalized"/></rdf:Description></rdf:li>
    </rdf:Bag></mwg:RegionList>
   </mwg:Regions>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>)";
}  // namespace

TEST_CASE("digikam xmp: a new sidecar has both region forms and the three tag lists", "[digikam]") {
  auto xml = merge(nullptr, content({{"Alice", {100, 50, 80, 100}}}));
  CHECK(xml.find("stArea:x=\"0.14\" stArea:y=\"0.125\" stArea:w=\"0.08\" stArea:h=\"0.125\"") != std::string::npos);
  CHECK(xml.find("MPReg:Rectangle=\"0.1, 0.0625, 0.08, 0.125\"") != std::string::npos);
  CHECK(xml.find("stDim:w=\"1000\" stDim:h=\"800\" stDim:unit=\"pixel\"") != std::string::npos);
  CHECK(squash(xml).find("<digiKam:TagsList><rdf:Seq><rdf:li>People/Alice</rdf:li>") != std::string::npos);
  CHECK(xml.find("<rdf:li>People|Alice</rdf:li>") != std::string::npos);
  CHECK(xml.find("Orientation") == std::string::npos);
  auto regions = read_regions(xml);
  REQUIRE(regions);
  REQUIRE(regions->size() == 2);
  CHECK((*regions)[0].form == "mwg");
  CHECK((*regions)[0].ours);
  CHECK((*regions)[1].name == std::optional<std::string>("Alice"));
  // Merging its own output again changes no byte.
  CHECK(merge(&xml, content({{"Alice", {100, 50, 80, 100}}})) == xml);
}

TEST_CASE("digikam xmp: merging keeps foreign data and replaces only facecat's regions", "[digikam]") {
  std::string foreign = kForeign;
  auto once = merge(&foreign, content({{"Bob & <Co>", {100, 50, 80, 100}}, {std::nullopt, {300, 300, 50, 50}}}));
  CHECK(once.find("Summer &amp; sea") != std::string::npos);
  CHECK(once.find("xmp:Rating=\"4\"") != std::string::npos);
  CHECK(once.find("<rdf:li>Holiday</rdf:li>") != std::string::npos);
  CHECK(once.find("Bob &amp; &lt;Co&gt;") != std::string::npos);
  CHECK(once.find("PersonDisplayName=\"Bob &amp; &lt;Co&gt;\"") != std::string::npos);
  // The existing prefix "mwg" is reused, no second Regions property appears.
  CHECK(count(once, "Regions rdf:parseType") == 1);
  CHECK(once.find("xmlns:mwg-rs") == std::string::npos);
  auto regions = read_regions(once);
  REQUIRE(regions);
  int foreign_n = 0, ours = 0, unnamed = 0;
  for (const auto& r : *regions) {
    if (r.name == std::optional<std::string>("Other Tool Person")) ++foreign_n;
    if (r.ours) ++ours;
    if (r.ours && !r.name) ++unnamed;
  }
  CHECK(foreign_n == 1);
  CHECK(ours == 4);  // 2 faces × (MWG + MP)
  CHECK(unnamed == 2);
  auto twice = merge(&once, content({{"Bob & <Co>", {100, 50, 80, 100}}, {std::nullopt, {300, 300, 50, 50}}}));
  CHECK(twice == once);

  // The person is renamed: the old name leaves the regions and the tags, foreign data stays.
  auto renamed = merge(&once, content({{"Robert", {100, 50, 80, 100}}}));
  CHECK(renamed.find("Bob") == std::string::npos);
  CHECK(renamed.find("People/Robert") != std::string::npos);
  CHECK(renamed.find("Other Tool Person") != std::string::npos);
  CHECK(renamed.find("<rdf:li>Holiday</rdf:li>") != std::string::npos);
  // Nothing left to export: facecat's parts go, the rest stays.
  auto emptied = merge(&renamed, content({}));
  CHECK(emptied.find("facecat:Source") == std::string::npos);
  CHECK(emptied.find("Robert") == std::string::npos);
  CHECK(emptied.find("Other Tool Person") != std::string::npos);
  CHECK(emptied.find("Summer &amp; sea") != std::string::npos);
  CHECK(emptied.find("MP:RegionInfo") == std::string::npos);
}

TEST_CASE("digikam xmp: a foreign duplicate of a facecat region is replaced, a Bag TagsList becomes a Seq",
          "[digikam]") {
  // As digiKam writes it back: same name, same rectangle, without facecat's marker.
  std::string dk = R"(<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:digiKam="http://www.digikam.org/ns/1.0/" xmlns:MP="http://ns.microsoft.com/photo/1.2/"
 xmlns:MPRI="http://ns.microsoft.com/photo/1.2/t/RegionInfo#" xmlns:MPReg="http://ns.microsoft.com/photo/1.2/t/Region#">
<digiKam:TagsList><rdf:Bag><rdf:li>Places/Paris</rdf:li></rdf:Bag></digiKam:TagsList>
<MP:RegionInfo rdf:parseType="Resource"><MPRI:Regions><rdf:Bag>
<rdf:li MPReg:PersonDisplayName="AC\DC" MPReg:Rectangle="0.1, 0.0625, 0.08, 0.125"/>
<rdf:li MPReg:PersonDisplayName="AC\DC" MPReg:Rectangle="0.101, 0.0625, 0.08, 0.125"/>
</rdf:Bag></MPRI:Regions></MP:RegionInfo></rdf:Description></rdf:RDF></x:xmpmeta>)";
  auto c = content({{"AC/DC", {100, 50, 80, 100}}});
  auto r = merge_sidecar(&dk, c);
  REQUIRE(r);
  CHECK(r->foreign_regions == 1);  // the one a pixel off is another face
  CHECK(squash(r->xml).find("<digiKam:TagsList><rdf:Seq>") != std::string::npos);
  CHECK(r->xml.find("<rdf:li>Places/Paris</rdf:li>") != std::string::npos);
  CHECK(r->xml.find("<rdf:li>People/AC\\DC</rdf:li>") != std::string::npos);
  CHECK(r->xml.find("PersonDisplayName=\"AC/DC\"") != std::string::npos);
  CHECK(merge(&r->xml, c) == r->xml);
}

TEST_CASE("digikam xmp: region lists holding only whitespace still merge to a fixed point", "[digikam]") {
  // Found by fuzz_xmp: the whitespace stayed beside the new rdf:Bag on the first merge and was dropped on reading
  // it back, so the second merge wrote other bytes.
  const std::string lists[] = {"<mwg-rs:RegionList>\n \n   </mwg-rs:RegionList>", "<mwg-rs:RegionList> </mwg-rs:RegionList>"};
  for (const auto& list : lists) {
    std::string xmp = R"(<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:mwg-rs="http://www.metadataworkinggroup.com/schemas/regions/"
 xmlns:facecat="http://facecat.invalid/ns/xmp/1.0/"><mwg-rs:Regions rdf:parseType="Resource">)" + list +
                      R"(</mwg-rs:Regions><facecat:People> </facecat:People>
<MP:RegionInfo xmlns:MP="http://ns.microsoft.com/photo/1.2/" xmlns:MPRI="http://ns.microsoft.com/photo/1.2/t/RegionInfo#"
 rdf:parseType="Resource"><MPRI:Regions><rdf:Bag>
 </rdf:Bag></MPRI:Regions></MP:RegionInfo></rdf:Description></rdf:RDF></x:xmpmeta>)";
    auto c = content({{"Alice", {100, 50, 80, 100}}});
    const std::string once = merge(&xmp, c);
    CHECK(count(once, "<rdf:li") >= 2);
    CHECK(merge(&once, c) == once);
  }
}

TEST_CASE("digikam xmp: an undeclared facecat: prefix in a foreign region does not become facecat's", "[digikam]") {
  // Found by fuzz_xmp: facecat declared xmlns:facecat on the rdf:Description, which gave a sibling region's
  // undeclared "facecat:x" attribute facecat's namespace, and the second merge removed that region as its own.
  std::string xmp = R"(<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:mwg-rs="http://www.metadataworkinggroup.com/schemas/regions/"
 xmlns:stArea="http://ns.adobe.com/xmp/sType/Area#"><mwg-rs:Regions rdf:parseType="Resource"><mwg-rs:RegionList><rdf:Bag>
<rdf:li facecat:x="1" rdf:parseType="Resource"><mwg-rs:Name>Bob Example</mwg-rs:Name><mwg-rs:Type>Face</mwg-rs:Type>
<mwg-rs:Area stArea:x="0.6" stArea:y="0.5" stArea:w="0.2" stArea:h="0.25" stArea:unit="normalized"/></rdf:li>
</rdf:Bag></mwg-rs:RegionList></mwg-rs:Regions></rdf:Description></rdf:RDF></x:xmpmeta>)";
  auto c = content({{"Alice", {100, 50, 80, 100}}});
  auto once = merge_sidecar(&xmp, c);
  REQUIRE(once);
  CHECK(once->foreign_regions == 1);
  CHECK(once->xml.find("xmlns:facecat=") == std::string::npos);  // another prefix was declared for facecat
  auto twice = merge_sidecar(&once->xml, c);
  REQUIRE(twice);
  CHECK(twice->foreign_regions == 1);
  CHECK(twice->xml == once->xml);
}

TEST_CASE("digikam xmp: broken sidecars are left alone", "[digikam]") {
  std::string broken = "<x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><rdf:RDF";
  auto r = merge_sidecar(&broken, content({{"A", {1, 1, 10, 10}}}));
  REQUIRE_FALSE(r);
  CHECK(r.error().message.find("not well-formed") != std::string::npos);
  std::string not_xmp = "<html/>";
  CHECK_FALSE(merge_sidecar(&not_xmp, content({{"A", {1, 1, 10, 10}}})));
}

TEST_CASE("digikam xmp: the reference sidecar from the test data reads back", "[digikam]") {
  std::ifstream in(std::string(FACECAT_TESTDATA) + "/digikam/example-sidecar.jpg.xmp");
  if (!in) {
    WARN("test data absent: " FACECAT_TESTDATA "/digikam");
    return;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  auto regions = read_regions(ss.str());
  REQUIRE(regions);
  REQUIRE(regions->size() == 4);
  CHECK(from_mwg((*regions)[0].area, {1000, 800}) == Rect{100, 50, 80, 100});
  CHECK(from_mp((*regions)[2].area, {1000, 800}) == Rect{100, 50, 80, 100});
  CHECK_FALSE((*regions)[0].ours);
  // Merging facecat's identical faces into it: both of its regions are duplicates of facecat's and get replaced.
  std::string text = ss.str();
  auto c = content({{"Alice Example", {100, 50, 80, 100}}, {"Bob Example", {500, 300, 200, 200}}});
  auto r = merge_sidecar(&text, c);
  REQUIRE(r);
  CHECK(r->foreign_regions == 0);
  CHECK(count(r->xml, "<rdf:li>People/Alice Example</rdf:li>") == 1);
}

TEST_CASE("digikam xmp: sidecar names", "[digikam]") {
  CHECK(sidecar_path("/a/b/photo.jpg", false) == "/a/b/photo.jpg.xmp");
  CHECK(sidecar_path("/a/b/photo.jpg", true) == "/a/b/photo.xmp");
  CHECK(sidecar_path("/a/b.c/photo", true) == "/a/b.c/photo.xmp");
  CHECK(sidecar_path("/a/.hidden", true) == "/a/.hidden.xmp");
}

TEST_CASE("digikam xmp: a face another tool shows under the same name with its own box gets no second region",
          "[digikam]") {
  // The face was named in another tool (its box 90,40 100x120) and imported; facecat's detector box differs.
  auto first = content({{std::string("Alice"), Rect{100, 50, 80, 100}}, {std::string("Bob"), Rect{500, 300, 100, 100}}});
  XmpContent other;
  other.stored = {1000, 800};
  other.regions.push_back({std::string("Alice"), Rect{90, 40, 100, 120}});
  std::string foreign = merge(nullptr, other);
  const std::string ns = kFacecatNs;
  for (size_t p; (p = foreign.find(ns)) != std::string::npos;) foreign.replace(p, ns.size(), "http://other.invalid/");
  std::string once = merge(&foreign, first);
  auto rs = read_regions(once);
  REQUIRE(rs);
  int alice = 0, bob = 0;
  for (const auto& r : *rs) {
    if (r.name == std::string("Alice")) {
      ++alice;
      CHECK_FALSE(r.ours);
    }
    if (r.name == std::string("Bob")) ++bob;
  }
  CHECK(alice == 2);  // the other tool's, in MWG and MP form; none of facecat's
  CHECK(bob == 2);    // facecat's, in both forms
  CHECK(merge(&once, first) == once);
  // A different name on that face is another face as far as the sidecar goes: facecat's region is written.
  auto carol = content({{std::string("Carol"), Rect{100, 50, 80, 100}}});
  auto with_carol = read_regions(merge(&foreign, carol));
  REQUIRE(with_carol);
  CHECK(with_carol->size() == 4);
}
