// facecat-digikam import: names that digiKam's users (or other tools' MWG/MP regions) gave faces, into the catalog.
//
// Sources, read into ImportImage lists (paths in the catalog's terms):
//  - digiKam's digikam4.db, opened read-only: ImageTagProperties 'tagRegion' on a person tag = a named face;
//    on People/Unknown, or 'autodetectedFace' / 'autodetectedPerson' (digiKam's unconfirmed guess) = an unnamed
//    face; 'ignoredFace' or the Ignored tag = ignored. Paths through the album roots and --root-map reversed.
//    '\' in a tag name goes back to '/' (digiKam and facecat's export turn '/' into '\').
//  - XMP regions (MWG and MP; both forms of one face count once) in a photo's sidecar (photo.jpg.xmp or
//    photo.xmp) or, without one, embedded in the photo. Regions that facecat wrote itself are skipped.
//
// apply_import() then, per image and in one transaction each: takes the catalog's faces of the image's
// detection (the configured pipeline's, else the newest, as the export does) and pairs every region with the
// face of the highest IoU >= 0.5 in the display frame (each face at most once), and
//  - a named region on an unconfirmed face: the face is confirmed as that person (people::name);
//  - on a face confirmed (or rejected) as someone else: a conflict, reported; --prefer digikam renames it,
//    --prefer facecat keeps facecat's, neither leaves it and counts it (exit code 1);
//  - a region without a face: a new face row from the region, with landmarks and a descriptor (the describe
//    callback), then as above;
//  - unnamed regions only make sure the face exists; ignored ones change nothing.
// face_sources records (face, source, ref, name). Running it again finds everything in place and writes nothing.
#pragma once
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "catalog/db.hpp"
#include "digikam/digikam_db.hpp"
#include "digikam/geometry.hpp"
#include "util/result.hpp"

namespace facecat::digikam {

enum class RegionKind { Named, Unnamed, Ignored };

struct ImportRegion {
  RegionKind kind = RegionKind::Unnamed;
  std::string name;   // Named only
  Rect display;       // display frame, pixels
};

struct ImportImage {
  std::string path;   // catalog path (raw bytes)
  std::string ref;    // where the regions were read: "digikam4.db path#image id" or the sidecar / photo
  std::vector<ImportRegion> regions;
};

// ---- readers -------------------------------------------------------------------------------------------------
// <rect x=".." y=".." width=".." height=".."/> (digiKam's tagRegion); nullopt when malformed.
std::optional<Rect> parse_db_rect(const std::string& value);

// Every image of a digikam4.db that has face regions, with its path mapped back to the catalog's terms
// (opts.root_map is catalog prefix -> digiKam prefix, as for the db export). Errors (exit code 3): not a digiKam
// database, unreadable. The database is opened read-only and never changed.
Result<std::vector<ImportImage>> read_digikam_db(const DbOptions& opts);

// The regions of one XMP document for an image of this stored size and orientation, in the display frame.
// Regions marked as facecat's are left out; an MP region that repeats an MWG one (same name, IoU >= 0.5) too.
Result<std::vector<ImportRegion>> regions_from_xmp(std::string_view xml, Size stored, int orientation);

// The catalog's present images under a folder (whole path components), with their stored size and orientation.
struct CatalogImage {
  std::string path;
  Size stored;
  int orientation = 1;
};
std::vector<CatalogImage> images_under(catalog::Db& db, const std::string& folder);

// ---- into the catalog ----------------------------------------------------------------------------------------
enum class Prefer { None, Digikam, Facecat };

struct ImportOptions {
  std::string source;              // "digikam-db" or "xmp" (face_sources.source)
  std::string pipeline = "default";
  Prefer prefer = Prefer::None;
  bool dry_run = false;
};

// A face that the import adds: what describe() computed for a region's box.
struct NewFace {
  std::string model_id;            // empty: no descriptor
  std::string descriptor;          // 512 bytes or empty
  std::string landmarks;           // 68 × 2 float32 or empty
  nlohmann::json quality = nlohmann::json::object();
};
// describe(path, boxes in the display frame) -> one NewFace per box, or an Error (the regions are reported).
using Describe = std::function<Result<std::vector<NewFace>>(const std::string& path, const std::vector<Rect>& boxes)>;

struct ImportSummary {
  int images = 0, images_skipped = 0;
  int regions = 0;
  int confirmed = 0;     // faces newly confirmed as the region's person
  int present = 0;       // already confirmed as that person
  int created = 0;       // faces added for regions facecat had not found
  int unnamed = 0, ignored = 0;
  int conflicts = 0;     // left as they were (no --prefer)
  int overridden = 0;    // --prefer digikam renamed facecat's confirmed face
  int kept = 0;          // --prefer facecat kept facecat's
  int errors = 0;
};

// on_event gets one JSON record per region (event "import") and per skipped image (event "skipped").
Result<ImportSummary> apply_import(catalog::Db& db, const std::vector<ImportImage>& images, const ImportOptions& opts,
                                   const Describe& describe, const std::function<void(const nlohmann::json&)>& on_event);

}  // namespace facecat::digikam
