// facecat-digikam: export people and face regions to digiKam (XMP sidecars or digikam4.db) and to CSV.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "catalog/db.hpp"
#include "core/config.hpp"

namespace facecat::tools {
int digikam_main(int argc, char** argv);

// Rewrites the existing XMP sidecars of the images with these content hashes from the catalog as it is now (the
// `xmp` export restricted to them, with default options; compat_names: photo.xmp): what facecat wrote there for
// faces that are gone is taken out, other tools' regions and fields stay. Used by facecat-people erase --xmp.
// Returns the number of sidecars that failed.
int rewrite_sidecars(catalog::Db& db, const Config& cfg, const std::set<std::string>& hashes, bool compat_names);

// Takes the regions that `facecat-digikam db` wrote for these faces out of digiKam's database (closed digiKam, backup
// first, one transaction; see digikam::DbOptions::remove). Errors (digiKam runs, locked) throw Fatal with exit code 3
// before anything changes. Returns 0, or 1 when none of the photos was in digiKam's database.
int remove_from_digikam_db(catalog::Db& db, const Config& cfg, const std::set<int64_t>& face_ids,
                           const std::string& digikam_db, const std::vector<std::string>& root_map);
}  // namespace facecat::tools
