// Who is this, and what is in this photo (issue 13): read-only views of the catalog for `facecat-people show` and
// `facecat-people in`. Records follow the shared vocabulary: every record has "event"; a file is path (+ path_b64),
// file_id and hash; a catalog face is face_id and its position in its image face_index; a person person_id + name;
// a box is [x, y, w, h] in display-frame pixels, as facecat-detect writes it.
#pragma once
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "catalog/db.hpp"
#include "people/people.hpp"
#include "util/result.hpp"

namespace facecat::people {

// Faces of one person that are not rejected, by state.
struct FaceCounts {
  int64_t faces = 0, confirmed = 0, suggested = 0;
};
FaceCounts face_counts(catalog::Db& db, int64_t person);

// show: the person a reference names (a face's or a cluster's person for f<id> and c<id>) as one "person" record
// (person_id, name, status, face_count, confirmed_count, suggested_count, cluster_ids), then one "face" record per
// face of theirs: confirmed first, then by path and face_index. A cluster that has no person gives a "cluster"
// record (cluster_id, face_count) and its faces instead. A face's status is its assignment (confirmed or
// suggested; a face without one counts as its person's status says). Its crop is the path facecat-detect recorded
// ([faces] CroppedFacesPath), null when it made none.
Result<std::vector<nlohmann::json>> show(catalog::Db& db, const Ref& ref);

// A photo in the catalog, found by path or by content.
struct PhotoRow {
  int64_t file_id = 0;
  std::string path;  // raw bytes
  std::string hash;  // empty: never hashed
  std::string kind;
  std::optional<std::string> error;
};
std::optional<PhotoRow> photo_by_path(catalog::Db& db, const std::string& raw_path);
// The catalog's file with this content (present ones first), for a photo the catalog knows under another name.
std::optional<PhotoRow> photo_by_hash(catalog::Db& db, const std::string& hash);

// in: a "photo" record (path, file_id, hash, face_count, analysed, pipeline) and one "face" record per face of the
// photo's detection by `pipeline` (the configured one; else the newest detection, as the exports pick it): face_id,
// face_index, box, conf, cluster_id, and who it is (person_id, name, status confirmed/suggested) or nobody
// (person_id, name and status null; a face rejected for someone is nobody's). Faces marked not-a-face are left out.
std::vector<nlohmann::json> faces_in(catalog::Db& db, const PhotoRow& photo, const std::string& pipeline);

}  // namespace facecat::people
