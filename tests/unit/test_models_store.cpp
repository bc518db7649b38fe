// faces_store/models_store (the pins compiled in from packaging/models.sha256) and core/models_dir.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "core/models_dir.hpp"
#include "faces_store/models_store.hpp"

namespace fs = std::filesystem;
using namespace facecat;

TEST_CASE("the model pins are packaging/models.sha256, with the weights required", "[models]") {
  const auto& pins = faces_store::model_pins();
  REQUIRE(pins.size() >= 8);
  std::ifstream in(std::string(FACECAT_SOURCE_DIR) + "/packaging/models.sha256");
  size_t lines = 0;
  for (std::string l; std::getline(in, l);)
    if (!l.empty() && l[0] != '#') ++lines;
  CHECK(pins.size() == lines);
  bool bin = false;
  for (const auto& p : pins) {
    CHECK(p.sha256.size() == 64);
    if (p.path == "face-api/model/face_recognition_model.bin") bin = p.required;
    if (p.path.rfind("cache/", 0) == 0) CHECK_FALSE(p.required);
  }
  CHECK(bin);
}

TEST_CASE("an empty folder holds no models and lists none", "[models]") {
  const fs::path d = fs::temp_directory_path() / "facecat-test-no-models";
  fs::create_directories(d);
  CHECK_FALSE(holds_models(d));
  CHECK(faces_store::list_models(d, {}).empty());
  fs::remove_all(d);
}

TEST_CASE("the models search starts at $XDG_DATA_HOME and follows $XDG_DATA_DIRS", "[models]") {
  const char* old_home = std::getenv("XDG_DATA_HOME");
  const char* old_dirs = std::getenv("XDG_DATA_DIRS");
  const std::string h = old_home ? old_home : "", d = old_dirs ? old_dirs : "";
  ::setenv("XDG_DATA_HOME", "/nonexistent/xdg-home", 1);
  ::setenv("XDG_DATA_DIRS", "/nonexistent/a:relative/ignored:/nonexistent/b", 1);
  const auto c = models_dir_candidates();
  REQUIRE(c.size() >= 3);
  CHECK(c[0].dir == "/nonexistent/xdg-home/facecat/models");
  CHECK(c[1].dir == "/nonexistent/a/facecat/models");
  CHECK(c[2].dir == "/nonexistent/b/facecat/models");
  const auto found = find_models_dir();
  if (running_build_dir().empty()) {  // the unit tests run from build/tests, not from the build folder itself
    CHECK(found.dir == "/nonexistent/xdg-home/facecat/models");
    CHECK(is_searched_models_origin(found.origin));
  }
  if (old_home) ::setenv("XDG_DATA_HOME", h.c_str(), 1); else ::unsetenv("XDG_DATA_HOME");
  if (old_dirs) ::setenv("XDG_DATA_DIRS", d.c_str(), 1); else ::unsetenv("XDG_DATA_DIRS");
}
