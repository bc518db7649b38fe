// facecat-digikam: export people and face regions to digiKam (XMP sidecars or digikam4.db) and to CSV.
#pragma once

#include <set>
#include <string>

#include "catalog/db.hpp"
#include "core/config.hpp"

namespace facecat::tools {
int digikam_main(int argc, char** argv);

// Rewrites the existing XMP sidecars of the images with these content hashes from the catalog as it is now (the
// `xmp` export restricted to them, with default options; compat_names: photo.xmp): what facecat wrote there for
// faces that are gone is taken out, other tools' regions and fields stay. Used by facecat-people erase --xmp.
// Returns the number of sidecars that failed.
int rewrite_sidecars(catalog::Db& db, const Config& cfg, const std::set<std::string>& hashes, bool compat_names);
}  // namespace facecat::tools
