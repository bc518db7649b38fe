// "Who is this?": a target face's descriptor against the catalog, aggregated per person, for an open set (most faces
// in a photo belong to nobody in the catalog, so the default tolerance is strict and a face without a person within
// it comes out as unknown).
#pragma once
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <map>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "catalog/db.hpp"
#include "face/analyzer.hpp"
#include "search/faces.hpp"
#include "search/search.hpp"

namespace facecat::match {

struct Options {
  double tolerance = 0.5;  // a person matches when their best face is at most this far
  int top = 5;             // people and unassigned faces shown per target face
  int neighbours = 256;    // catalog faces looked at per target face (aggregation window)
};

// Restricts the people a target may match, e.g. to a VK user's friends (--vk-user). Provided by another module
// through set_candidate_provider(); facecat-match only calls it.
struct CandidateFilter {
  std::unordered_set<int64_t> people;                // allowed person ids
  std::unordered_map<int64_t, int> mutual_friends;   // optional: shown with each person
  std::string description;                           // e.g. "friends of VK user 1 (123 people)"
};
using CandidateProvider = std::function<Result<CandidateFilter>(catalog::Db&, const std::string& user_id)>;
void set_candidate_provider(CandidateProvider p);
const CandidateProvider& candidate_provider();  // empty when no module registered one

struct PersonHit {
  int64_t person = 0;
  std::optional<std::string> name;
  std::string status;
  std::map<std::string, std::string> sources;  // where the person comes from: {"vk": "12345"}
  float distance = 0;      // best face
  int64_t best_face = 0;
  int within = 0;          // faces within tolerance (among the neighbours looked at)
  double confidence = 0;   // 0..1, see confidence()
  bool match = false;
  std::optional<int> mutual_friends;
};

struct FaceHit {
  int64_t face = 0;
  float distance = 0;
  std::string file;        // raw path bytes of one file with this content (may be empty)
  int x = 0, y = 0, w = 0, h = 0;
  std::string crop;        // raw path bytes
  std::optional<int64_t> cluster;
};

struct FaceResult {
  std::vector<PersonHit> people;   // nearest first
  std::vector<FaceHit> faces;      // faces of nobody, nearest first
};

// 0.5 at the tolerance, 0.95 at tolerance − 0.09, 0.05 at tolerance + 0.09 (a logistic in the best distance); one
// more face of the same person within tolerance moves it as if the distance were 0.01 smaller (at most 5 faces).
double confidence(double best_distance, int within, double tolerance);

class Matcher {
 public:
  // The catalog's faces of one model; the index must be built over faces.matrix.
  Matcher(catalog::Db& db, const search::FaceSet& faces, const search::Index& index);
  FaceResult match(const float* descriptor, const Options& o, const CandidateFilter* filter = nullptr) const;

 private:
  catalog::Db& db_;
  const search::FaceSet& faces_;
  const search::Index& index_;
  std::unordered_map<int64_t, size_t> row_of_;
  struct Person {
    std::optional<std::string> name;
    std::string status;
    std::map<std::string, std::string> sources;  // e.g. {"vk": "12345"}
  };
  std::unordered_map<int64_t, Person> people_;
  // Source hints: a face with no person, alone in a file whose source is a person (a VK profile photo), counts
  // for that person (face id -> person id).
  std::unordered_map<int64_t, int64_t> source_person_;
};

// Cannot-link across the faces of one target photo: one person is never the match of two of them. Greedy by
// distance: the nearest (face, person) pair keeps its match; the same person loses `match` on the photo's other
// faces, which then fall to their next person within tolerance (or to unknown).
void one_person_per_face(std::vector<FaceResult>& faces_of_one_photo);

// The face's answer: its first person with match set, or null.
const PersonHit* best_match(const FaceResult& r);

// A target image's faces, described with the same pipeline as detect.
struct TargetFace {
  face::Box box;
  search::Descriptor descriptor{};
};
struct TargetImage {
  std::string model_id;
  int width = 0, height = 0;
  std::vector<TargetFace> faces;
};
// How a target image is read:
//  Photo: detect faces (the detect pipeline);
//  Chip:  the image is an aligned face chip (like dlib's 150×150 chips): resized to 150×150, described whole;
//  Crop:  the image is a tight crop around one face (face-recognition.js): it is padded so that the detector and
//         the landmarks see the whole face, then detected; without a detection it is described as a chip.
// jitter > 1: each face's descriptor is the mean over that many jittered copies of its chip (face/jitter.hpp).
enum class TargetMode { Photo, Chip, Crop };
Result<TargetImage> describe_image(face::FaceAnalyzer& analyzer, const std::filesystem::path& path,
                                   const face::DetectParams& params, TargetMode mode, int jitter = 1);
inline Result<TargetImage> describe_image(face::FaceAnalyzer& analyzer, const std::filesystem::path& path,
                                          const face::DetectParams& params, bool chip_mode) {
  return describe_image(analyzer, path, params, chip_mode ? TargetMode::Chip : TargetMode::Photo);
}

// JSON for results (paths through put_path).
nlohmann::json to_json(const PersonHit& p);
nlohmann::json to_json(const FaceHit& f);

}  // namespace facecat::match
