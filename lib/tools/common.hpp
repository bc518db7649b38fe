// Helpers shared by the tools (not by the library's lower layers).
#pragma once
#include <string>

#include "catalog/catalog.hpp"
#include "core/config.hpp"

namespace facecat::tools {

// Opens the configured catalog for reading or writing; errors become Fatal with exit code 3.
catalog::Catalog open_catalog(const Config& cfg, catalog::Mode mode);

}  // namespace facecat::tools
