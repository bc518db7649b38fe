// Internal to lib/face: reads tfjs weights (a weights manifest plus its .bin), as face-api.js ships them.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include "util/result.hpp"

namespace facecat::face::detail {

struct TfTensor {
  std::string name;
  std::vector<long> shape;
  std::vector<float> data;
};

// Every tensor of the manifest, in manifest order, de-quantized to float (uint8: min + q·scale). The .bin must be
// consumed exactly: bytes left over mean a wrong manifest.
Result<std::vector<TfTensor>> read_tfjs(const std::filesystem::path& manifest, const std::filesystem::path& bin);

}  // namespace facecat::face::detail
