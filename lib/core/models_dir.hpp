// Where the face models are: the folder that faces.models_dir names when it is not set (see Config::load).
//
// Search order, first folder that holds models wins:
//   1. faces.models_dir, when set (config.ini, FACECAT_MODELS_DIR, --set): used as it is, not searched;
//   2. $XDG_DATA_HOME/facecat/models (~/.local/share/facecat/models): `facecat-catalog models fetch|install`;
//   3. <dir>/facecat/models for each dir of $XDG_DATA_DIRS (default /usr/local/share:/usr/share): the
//      facecat-models package puts them in /usr/share/facecat/models;
//   4. the build tree's models folder (CMake's FACECAT_MODELS_DIR, where scripts/setup fetches them), only when
//      this program runs from the build folder it was built in (/proc/self/exe is in CMake's binary dir or below it).
// A folder "holds models" when it has face-api/model/face_recognition_model.bin or ultraface/rfb320-cut.onnx.
// When none does, the answer is the XDG folder (2), where `facecat-catalog models install` puts them.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

namespace facecat {

// What to do when a model file is missing (messages of the model loaders).
inline constexpr const char* kGetModelsHint =
    "install the facecat-models package, or run facecat-catalog models fetch (or models install FILE.tgz; "
    "scripts/setup in a source checkout)";

struct ModelsDirChoice {
  std::filesystem::path dir;
  std::string origin;  // why: shown by --show-config as the value's origin
};

struct ModelsDirCandidate {
  std::filesystem::path dir;
  std::string source;  // "$XDG_DATA_HOME", "$XDG_DATA_DIRS", "build tree"
};

// The folders searched, in order (the build tree only when running from it).
std::vector<ModelsDirCandidate> models_dir_candidates();

// True when `dir` holds at least one model file facecat loads.
bool holds_models(const std::filesystem::path& dir);

// The first candidate that holds models, or the XDG folder.
ModelsDirChoice find_models_dir();

// The folder `facecat-catalog models install|fetch` writes when faces.models_dir is not set.
std::filesystem::path user_models_dir();

// The build folder this program was built in, when it runs from there (empty otherwise).
std::filesystem::path running_build_dir();

// scripts/ of the source tree this program was built from, when it runs from its build folder (else empty).
std::filesystem::path build_source_dir();

// True for the origin find_models_dir() gives (it starts with "search: "): faces.models_dir was not set.
bool is_searched_models_origin(const std::string& origin);

}  // namespace facecat
