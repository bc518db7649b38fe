#include "digikam/csv.hpp"

namespace facecat::digikam {

std::string faces_csv(const std::vector<ExportImage>& images, size_t* rows) {
  std::string out = "path,name,x,y,width,height\r\n";
  size_t n = 0;
  for (const auto& img : images)
    for (const auto& f : img.faces) {
      out += csv_field(img.path) + "," + csv_field(f.name) + "," + std::to_string(f.display.x) + "," +
             std::to_string(f.display.y) + "," + std::to_string(f.display.w) + "," + std::to_string(f.display.h) +
             "\r\n";
      ++n;
    }
  if (rows) *rows = n;
  return out;
}

}  // namespace facecat::digikam
