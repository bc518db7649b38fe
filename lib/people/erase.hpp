// Erasing a person for good (issue 19: faces are biometric data; GDPR art. 17). One call removes the person, every
// descriptor, landmark and quality row of their faces, their crops, chips and report thumbnails, the search index
// files beside the catalog (rebuilt when next needed), and with `vk` their VK profile rows and downloaded photos;
// then the SQLite pages that held the data are overwritten (secure_delete, VACUUM, WAL truncated).
// With `block`, each erased face leaves a row without biometric data (content hash and box) in blocked_faces, and
// detect, ingest and merge never store a face there again.
#pragma once
#include <filesystem>
#include <map>
#include <set>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "catalog/catalog.hpp"
#include "util/result.hpp"

namespace facecat::people {

struct EraseOptions {
  bool block = false;    // keep (file_hash, box) of each erased face so that it is never stored again
  bool vk = false;       // also the person's VK rows (person_sources, crawl state, photos) and downloaded photos
  bool dry_run = false;  // count what would go; change nothing
  bool vacuum = true;    // VACUUM after the deletes (secure_delete alone leaves the freed pages zeroed, not gone)
  std::filesystem::path chips_dir;   // faces.chips_path: chips of the erased faces are removed from it
  std::filesystem::path report_dir;  // a facecat report (with its marker): thumbnails of the erased faces go
};

struct EraseResult {
  int64_t person = 0;
  std::string name;
  std::map<std::string, int64_t> removed;  // counted by kind: faces, descriptors, landmarks, crops, chips, ...
  std::vector<std::string> disk_errors;
  std::set<std::string> file_hashes;       // the content of the photos their faces were in
  std::set<int64_t> face_ids;              // their faces (also with dry_run)
  double seconds_delete = 0, seconds_vacuum = 0;
  nlohmann::json to_json() const;
};

// ref: a person's name, p<id>, a cluster c<id> (its person, or its faces when it has none), or vk:<id> / a VK id
// of a person source. Takes and commits its own transactions: call it on a catalog opened for writing.
Result<EraseResult> erase(catalog::Catalog& cat, const std::string& ref, const EraseOptions& opts);

}  // namespace facecat::people
