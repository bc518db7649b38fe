// XMP sidecars that digiKam, exiftool and exiv2 read: face regions in MWG and MP form, and the People tags.
//
// merge_sidecar() reads an existing sidecar (or starts a new one), keeps everything that is not facecat's —
// other namespaces, other tools' regions, dc:title, … — and replaces facecat's own regions and tags:
// - A region is facecat's when it carries a field in facecat's namespace (facecat:Source="facecat").
//   A region of another tool with the same name and the same integer pixel rectangle as one facecat writes is a
//   duplicate (digiKam's own rule) and is replaced too; that is what happens after digiKam rewrote a sidecar and
//   dropped the marker. Every other region survives, in its own form. A region of another tool with the same
//   name that overlaps one of facecat's (IoU >= 0.5) with other pixels shows that face already (e.g. named in
//   digiKam, then imported): facecat writes no second region for it.
// - Tags: digiKam:TagsList (an rdf:Seq; digiKam ignores a Bag) "People/Name", lr:hierarchicalSubject
//   "People|Name", dc:subject "Name". facecat records the names it added in facecat:People, so a name that is
//   no longer exported is taken out again; tags added by anyone else stay.
// - tiff:Orientation is never written (in a sidecar it would override the image's EXIF in digiKam).
// The output is a fixed function of the input: merging facecat's own output again gives the same bytes.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "digikam/geometry.hpp"
#include "util/result.hpp"

namespace facecat::digikam {

inline constexpr const char* kFacecatNs = "http://facecat.invalid/ns/xmp/1.0/";

struct XmpRegion {
  std::optional<std::string> name;  // nullopt: an unnamed face (digiKam shows it as Unknown)
  Rect stored;                      // pixel box in the stored (unrotated) frame
};

struct XmpContent {
  Size stored;                       // the stored image size the regions are normalized to
  int orientation = 1;               // the image's EXIF orientation (only to warn about a tiff:Orientation)
  std::vector<XmpRegion> regions;
  std::vector<std::string> people;   // names for the tag lists, in the order to write them
  std::string people_tag = "People"; // the parent of person tags in TagsList / hierarchicalSubject
};

struct MergeOutcome {
  std::string xml;
  std::vector<std::string> warnings;
  int foreign_regions = 0;  // regions of other tools that were kept (MWG and MP counted separately)
};

// existing: the current sidecar's bytes, or nullptr when there is none. An existing file that is not
// well-formed XMP is an error: it is never overwritten.
Result<MergeOutcome> merge_sidecar(const std::string* existing, const XmpContent& content);

// True for a sidecar that only facecat has written so far (its x:xmptk is still "facecat": every other writer,
// exiftool, Exiv2/digiKam, Adobe, puts its own name there). Such a sidecar holds no metadata of the photo; facecat
// rebuilds it from the photo's metadata (photo_xmp.hpp) and its own regions.
bool written_only_by_facecat(std::string_view xml);

// What a reader sees (for the duplicate rule and for tests).
struct ReadRegion {
  std::string form;                 // "mwg" or "mp"
  std::optional<std::string> name;
  Normalized area;                  // MWG: centre-based, MP: top-left based
  bool ours = false;
};
Result<std::vector<ReadRegion>> read_regions(std::string_view xml);

// "photo.jpg" -> "photo.jpg.xmp", or "photo.xmp" with compatible names (digiKam's two choices).
std::string sidecar_path(const std::string& image_path, bool compat_names);
// The tag strings for one name: TagsList "People/Na\me" ('/' in a name becomes '\', as digiKam does),
// hierarchicalSubject "People|Name", dc:subject "Name".
std::string tags_list_item(const std::string& people_tag, const std::string& name);
std::string hierarchical_item(const std::string& people_tag, const std::string& name);

}  // namespace facecat::digikam
