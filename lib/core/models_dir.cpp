#include "core/models_dir.hpp"

#include <cstdlib>

#include "core/config.hpp"

// Set for this file alone by lib/CMakeLists.txt (so that no other object depends on the build folder's path).
#ifndef FACECAT_BUILD_DIR
#define FACECAT_BUILD_DIR ""
#endif
#ifndef FACECAT_SOURCE_DIR_FOR_MODELS
#define FACECAT_SOURCE_DIR_FOR_MODELS ""
#endif
#ifndef FACECAT_DEFAULT_MODELS_DIR
#define FACECAT_DEFAULT_MODELS_DIR ""
#endif

namespace facecat {

namespace fs = std::filesystem;

fs::path user_models_dir() { return fs::path(expand_user_path("$XDG_DATA_HOME")) / "facecat" / "models"; }

fs::path running_build_dir() {
  const fs::path baked = FACECAT_BUILD_DIR;
  if (baked.empty()) return {};
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return {};
  // The tools sit in the build folder itself; the unit tests, benchmarks and fuzz targets in folders below it.
  for (fs::path here = exe.parent_path(); !here.empty(); here = here.parent_path()) {
    if (fs::equivalent(here, baked, ec) && !ec) return baked;
    if (here == here.root_path()) break;
  }
  return {};
}

fs::path build_source_dir() {
  if (running_build_dir().empty()) return {};
  return FACECAT_SOURCE_DIR_FOR_MODELS;
}

std::vector<ModelsDirCandidate> models_dir_candidates() {
  std::vector<ModelsDirCandidate> out;
  out.push_back({user_models_dir(), "$XDG_DATA_HOME"});
  const char* dirs = std::getenv("XDG_DATA_DIRS");
  std::string list = (dirs && *dirs) ? dirs : "/usr/local/share:/usr/share";
  size_t start = 0;
  while (start <= list.size()) {
    size_t colon = list.find(':', start);
    if (colon == std::string::npos) colon = list.size();
    const std::string d = list.substr(start, colon - start);
    // The spec: relative entries are invalid and ignored.
    if (!d.empty() && d[0] == '/') out.push_back({fs::path(d) / "facecat" / "models", "$XDG_DATA_DIRS"});
    start = colon + 1;
  }
  if (!running_build_dir().empty() && std::string(FACECAT_DEFAULT_MODELS_DIR).size())
    out.push_back({fs::path(FACECAT_DEFAULT_MODELS_DIR), "build tree"});
  return out;
}

bool holds_models(const fs::path& dir) {
  std::error_code ec;
  return fs::is_regular_file(dir / "face-api" / "model" / "face_recognition_model.bin", ec) ||
         fs::is_regular_file(dir / "ultraface" / "rfb320-cut.onnx", ec);
}

ModelsDirChoice find_models_dir() {
  std::string searched;
  for (const auto& c : models_dir_candidates()) {
    if (holds_models(c.dir)) {
      if (c.source == "build tree")
        return {c.dir, std::string("search: build tree, running from ") + running_build_dir().string() +
                           ", no models installed"};
      return {c.dir, std::string("search: found in ") + c.source};
    }
    if (!searched.empty()) searched += ", ";
    searched += c.dir.string();
  }
  std::string why = "search: no models in ";
  why += searched;
  why += "; facecat-catalog models fetch or install puts them here";
  return {user_models_dir(), why};
}

bool is_searched_models_origin(const std::string& origin) { return origin.rfind("search: ", 0) == 0; }

}  // namespace facecat
