// facecat-detect's engine: a TBB pipeline (read ∥ analyze ∥ ordered sink) over a stream of image paths, with a
// bounded number of files in flight (memory stays flat however long the input). The sink runs serially, in
// input order: it prints records and, in catalog mode, is the one catalog writer.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "face/analyzer.hpp"
#include "faces_store/pipeline.hpp"
#include "faces_store/store.hpp"

namespace facecat::detect {

struct Input {
  std::string path;           // raw bytes
  std::string expected_hash;  // from the catalog or scan's JSONL: a file whose content differs is not analysed
  std::string error;          // a malformed input line: reported as this file's error, nothing is read
};

struct Options {
  faces_store::PipelineParams params;
  std::string pipeline_name;
  std::string version;        // faces_store::version_of(params)
  int64_t max_pixels = 100'000'000;
  int threads = 0;            // 0: one per core
  std::filesystem::path crops_dir;  // empty: no crops
  std::filesystem::path chips_dir;  // empty: no aligned chip export (<chips_dir>/<hash[0:2]>/<face id>.chip.png)
};

struct Outcome {
  faces_store::DetectionRecord rec;  // rec.error non-empty: failed
  bool retry = false;         // a transient failure (unreadable, changed since the scan): not a result to store
  double read_ms = 0, decode_ms = 0, detect_ms = 0, landmarks_ms = 0, describe_ms = 0, crops_ms = 0;
};

struct Stats {
  int64_t files = 0, faces = 0, errors = 0;
  double read_ms = 0, decode_ms = 0, detect_ms = 0, landmarks_ms = 0, describe_ms = 0, crops_ms = 0;  // summed
};

using Source = std::function<std::optional<Input>()>;  // called serially; nullopt ends the input
using Sink = std::function<void(Outcome&)>;            // called serially, in input order

face::DetectParams detect_params(const Options& o);
// Stable face id: <file_hash>_<pipeline_version>_<index>; crops are <crops_dir>/<hash[0:2]>/<face id>.jpg.
std::string face_id(const std::string& hash, const std::string& version, int index);
std::filesystem::path crop_folder(const std::filesystem::path& crops_dir, const std::string& hash);

// Analyses one file's bytes (also used by the pipeline): hash check, faces, crops written atomically.
Outcome analyze_one(face::FaceAnalyzer& an, const Options& o, const face::DetectParams& dp, const Input& in,
                    const std::string& bytes, const std::string& read_error);

// Stops early (between files) when a stop is requested; the caller checks interrupted().
Stats run(const face::FaceAnalyzer& proto, const Options& o, const Source& source, const Sink& sink);

// Removes temp crops ('.<face id>.jpg.tmp.*') left by a killed run: those of the given hashes (files about to be
// processed again) and any older than an hour. Returns how many were removed.
int sweep_temp_crops(const std::filesystem::path& crops_dir, const std::vector<std::string>& hashes);

}  // namespace facecat::detect
