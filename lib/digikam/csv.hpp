// path,name,x,y,width,height for other tools: one row per selected face, boxes in display-frame pixels (what a
// viewer shows, the same numbers as digiKam's database), unknown faces with an empty name. RFC 4180 quoting;
// paths are written as their raw bytes.
#pragma once
#include <string>
#include <vector>

#include "util/csv.hpp"
#include "digikam/selection.hpp"

namespace facecat::digikam {

using util::csv_field;  // RFC 4180 quoting, shared with --format csv
// The header line plus one line per face; rows counts the faces.
std::string faces_csv(const std::vector<ExportImage>& images, size_t* rows = nullptr);

}  // namespace facecat::digikam
