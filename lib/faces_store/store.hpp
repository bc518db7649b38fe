// Detections and faces in the catalog: the one place that writes them (facecat-detect's catalog mode and
// facecat-catalog ingest both call store_detection), the face JSONL record format that facecat-detect prints and
// ingest reads, and the pending work list. Base code: no OpenCV, no dlib.
//
// Decisions:
// - Faces are keyed by content (file_hash), not by files rows: results for a hash the catalog does not know are
//   stored all the same, so a photo detected elsewhere and scanned later is not detected twice.
// - Storing (hash, pipeline version) again replaces that detection and its faces in one transaction; it never
//   duplicates them. Person assignments of replaced faces move to the new face with the same box (IoU > 0.9),
//   and faces of other pipeline versions of the same content lend theirs the same way. A replacement that would
//   drop a confirmed assignment is refused (the old result stays).
#pragma once
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "catalog/db.hpp"
#include "faces_store/pipeline.hpp"
#include "util/result.hpp"

namespace facecat::faces_store {

struct FaceRow {
  int index = 0;
  int x = 0, y = 0, w = 0, h = 0;  // display frame, original pixels
  double conf = 0;
  std::string label = "face";
  std::string descriptor;          // 512 bytes (128 little-endian float32) or empty
  std::string landmarks;           // 68 × 2 little-endian float32 or empty
  nlohmann::json quality = nlohmann::json::object();
  std::string crop_path;           // raw bytes, may be empty
  std::string chip_path;           // raw bytes: an exported aligned chip (detect --chips); JSONL only, not stored
};

struct DetectionRecord {
  std::string file;                // raw path bytes (informational)
  std::string file_hash;
  std::string pipeline_version;
  std::string pipeline_name;
  std::optional<PipelineParams> pipeline_params;
  std::string model_id;            // empty: no descriptors
  int width = 0, height = 0;       // display frame
  std::string error;               // non-empty: the file could not be analysed (no faces)
  std::vector<FaceRow> faces;
};

// facecat-detect's JSONL (docs/schema): one {"event":"face"} record per face, or one {"event":"file",
// "face_count":0} record, or one {"event":"error"} record per file. The pipeline's params are not repeated in
// them: detect prints one {"event":"pipeline"} record (pipeline_record) first.
std::vector<nlohmann::json> to_records(const DetectionRecord& d, bool with_landmarks);
nlohmann::json pipeline_record(const std::string& name, const std::string& version, const PipelineParams& params);

// Groups records back into detections (new and pre-issue-13 field names): feed records in order; a "pipeline"
// record gives later detections of its version their params, other events are skipped; a detection is complete when all its "faces"
// records have arrived. Records of different files may interleave (several workers' output merged line by line,
// as `parallel --line-buffer` does); the records of one file come in face order. Errors name the record; the
// caller prefixes file:line.
class RecordAssembler {
 public:
  static constexpr size_t kMaxOpen = 4096;  // files with face records still missing, at most (bounded memory)
  // Returns a finished detection, nothing (more records needed), or an Error for a malformed/unexpected record
  // (an incomplete detection of the same file is dropped with it). line: where the record was read (messages).
  Result<std::optional<DetectionRecord>> add(const nlohmann::json& rec, int64_t line = 0);
  // True when detections are still waiting for records (at end of input: they are incomplete).
  bool pending() const { return !open_.empty(); }
  std::string pending_what() const;

 private:
  struct Partial {
    DetectionRecord d;
    int expected = 0;
    int64_t line = 0;
  };
  std::map<std::pair<std::string, std::string>, Partial> open_;  // (file_hash, pipeline version)
  std::map<std::string, PipelineParams> params_;                  // from "pipeline" records, by version
};

// Little-endian float32 blobs.
std::string floats_to_blob(const float* v, size_t n);
std::vector<float> blob_to_floats(const std::string& b);

// Intersection over union of two [x,y,w,h] boxes.
double iou(int ax, int ay, int aw, int ah, int bx, int by, int bw, int bh);

struct StoreResult {
  int faces = 0;
  int kept_assignments = 0;  // person assignments carried onto the new faces
  bool replaced = false;     // an older result for the same (hash, version) was replaced
  bool known_file = true;    // a files row has this hash
};

// Removes the faces whose box overlaps (IoU >= 0.5) a box of the same content in blocked_faces (faces a person had
// erased with `facecat-people erase --block`). Returns how many went. store_detection calls it itself.
int drop_blocked_faces(catalog::Db& db, DetectionRecord& d);

// Writes one detection (and its model and, if the catalog lacks it, its pipeline row under its name) inside the
// caller's transaction. host: recorded in detections.host.
Result<StoreResult> store_detection(catalog::Db& db, const DetectionRecord& d, const std::string& host);

struct PendingFile {
  std::string path;  // raw bytes
  std::string hash;
  std::string origin;
};
// Images that are present, usable (error NULL) and hashed, whose content has no detections row for `version`.
// One path per content hash (the smallest), ordered by path.
std::vector<PendingFile> pending_files(catalog::Db& db, const std::string& version);

// The shard (0..n-1) a content hash belongs to: its first 64 bits modulo n. It depends on the content alone, so
// a file keeps its shard however the file list around it changes.
int shard_of(const std::string& hash, int n);

std::string host_name();

}  // namespace facecat::faces_store
