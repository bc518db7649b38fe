// Real faces for the match/cluster/people tests: the labelled test sets in ../shared/testdata/faces, described once
// per machine and model (the descriptors are cached in the temp folder, keyed by model id and test data path), and
// written into real catalogs.
#pragma once
#include <catch2/catch.hpp>
#include <filesystem>
#include <string>
#include <vector>

#include "catalog/catalog.hpp"
#include "face/analyzer.hpp"
#include "search/search.hpp"

namespace facecat::test {

std::filesystem::path testdata_dir();
std::filesystem::path models_path();
[[noreturn]] void skip_test(const std::string& why);  // exit code 4 = skipped
void require_faces();                                 // skips when photos or models are absent

face::FaceAnalyzer& shared_analyzer();

struct LabeledFace {
  std::string set;    // face-api.js, face-recognition.js, dlib, bald_guys, deepface, face_recognition
  std::string label;  // identity (folder name); for group photos the file name
  std::string path;   // absolute
  face::Box box;
  search::Descriptor d{};
};

// All faces of the labelled sets (chips described whole, photos detected), from the cache when possible.
const std::vector<LabeledFace>& labeled_faces();
std::vector<LabeledFace> faces_of_set(const std::string& set);
std::string model_id();

// A temp folder removed at the end of the test.
struct TempDir {
  std::filesystem::path p;
  TempDir();
  ~TempDir();
};

// Writes faces into a new catalog at path (files, detections, faces; crops are the source images themselves).
// Returns the face ids in the order given.
std::vector<int64_t> write_catalog(catalog::Catalog& cat, const std::vector<LabeledFace>& faces);
catalog::Catalog open_write(const std::filesystem::path& p);

}  // namespace facecat::test
