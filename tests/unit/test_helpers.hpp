// Shared helpers for unit tests.
#pragma once
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>

namespace test {

inline std::filesystem::path testdata() { return FACECAT_TESTDATA; }

// Skip the current test (CTest sees exit code 4 = skipped) when shared test data is absent.
#define FACECAT_REQUIRE_TESTDATA(rel)                                                                       \
  do {                                                                                                  \
    if (!std::filesystem::exists(test::testdata() / (rel))) {                                          \
      WARN("SKIPPED: test data " << (test::testdata() / (rel)) << " is absent (../shared/testdata)"); \
      std::exit(4);                                                                                     \
    }                                                                                                   \
  } while (0)

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::random_device rd;
    path = std::filesystem::temp_directory_path() / ("facecat-unit-" + std::to_string(rd()) + std::to_string(rd()));
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

inline int sh(const std::string& cmd) { return std::system(cmd.c_str()); }
inline bool have(const std::string& prog) { return sh("command -v " + prog + " >/dev/null 2>&1") == 0; }

}  // namespace test
