// RFC 4180 quoting for one CSV field: --format csv (core/format) and facecat-digikam csv share it.
#pragma once
#include <string>

namespace facecat::util {

std::string csv_field(const std::string& s);

}  // namespace facecat::util
