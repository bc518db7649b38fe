// The catalog's faces of one descriptor model, loaded once per run into a contiguous Matrix.
#pragma once
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "catalog/db.hpp"
#include "search/search.hpp"

namespace facecat::search {

struct FaceMeta {
  int64_t id = 0;
  std::optional<int64_t> person_id;
  std::string assignment;  // '', suggested, confirmed, rejected
  std::optional<int64_t> cluster_id;
  std::string file_hash;   // the photo's content hash: two faces of one photo are never one person
};

struct FaceSet {
  Matrix matrix;
  std::vector<FaceMeta> meta;  // meta[i] describes matrix row i
  size_t bad = 0;              // rows skipped because their blob was malformed (each one was logged)
};

// (model id, number of faces with a descriptor), most faces first.
std::vector<std::pair<std::string, int64_t>> model_counts(catalog::Db& db);

// The model to use: `wanted` if given (a prefix of at least 8 hex digits is accepted), else the only model in the
// catalog. Several models and none wanted is an error that lists them.
Result<std::string> pick_model(catalog::Db& db, const std::string& wanted);

// Every face of the model that has a descriptor (label 'face').
Result<FaceSet> load_faces(catalog::Db& db, const std::string& model_id);

}  // namespace facecat::search
