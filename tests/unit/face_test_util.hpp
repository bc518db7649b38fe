// Shared helpers for the face tests: one analyzer for the whole binary, skip-when-absent.
#pragma once
#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>

#include "face/analyzer.hpp"

namespace facecat::test {

inline std::filesystem::path testdata() {
  if (const char* e = std::getenv("FACECAT_TESTDATA")) return e;
  return FACECAT_TESTDATA;
}
inline std::filesystem::path faces_dir() { return testdata() / "faces"; }
inline std::filesystem::path models_dir() {
  if (const char* e = std::getenv("FACECAT_MODELS_DIR")) return e;
  return FACECAT_MODELS;
}

// ctest treats exit code 4 as "skipped" (tests/CMakeLists.txt).
[[noreturn]] inline void skip(const std::string& why) {
  std::fprintf(stderr, "SKIPPED: %s\n", why.c_str());
  std::fflush(stderr);
  std::exit(4);
}

inline void require_face_data() {
  if (!std::filesystem::is_directory(faces_dir())) skip("test photos absent: " + faces_dir().string());
  if (!std::filesystem::is_regular_file(face::faceapi_bin_path(models_dir())))
    skip("face-api weights absent in " + models_dir().string() + " (run scripts/setup)");
  if (!std::filesystem::is_regular_file("/usr/share/dlib/shape_predictor_68_face_landmarks.dat"))
    skip("shape predictor absent (libdlib-data)");
}

inline face::FaceAnalyzer& analyzer() {
  static std::unique_ptr<face::FaceAnalyzer> a = [] {
    require_face_data();
    face::AnalyzerConfig cfg;
    cfg.model.models_dir = models_dir();
    auto r = face::FaceAnalyzer::create(cfg);
    if (!r) FAIL(r.error().message);
    return std::make_unique<face::FaceAnalyzer>(std::move(*r));
  }();
  return *a;
}

}  // namespace facecat::test
