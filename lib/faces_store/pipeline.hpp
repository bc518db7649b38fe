// Detect pipelines as data: a named set of parameters stored in the catalog (table pipelines), identified by a
// version that is the hash of the parameters' canonical JSON. Every detection and face records the version it
// came from; a file is pending for a pipeline when its content has no detections row for the current version,
// so changing any step makes every file pending again (nothing is deleted: older versions' faces stay).
// Base code: no OpenCV, no dlib (facecat-catalog links it).
#pragma once
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "catalog/db.hpp"
#include "util/result.hpp"

namespace facecat::faces_store {

struct PipelineParams {
  std::string decode = "reduced";  // reduced: large JPEGs decoded at 1/2..1/8 when min_face allows; full: never
  std::string detector = "hog";    // hog: dlib's frontal HOG; tiny+hog: tiny DNN proposals confirmed by HOG
  int upsample = 0;                // extra ×2 pyramid steps on top of the min_face scale (0..3)
  int min_face = 80;               // smallest face to find, in original-image pixels (a floor)
  double min_face_fraction = 0.02; // ...or this fraction of the long side, whichever is larger (0: min_face alone)
  double threshold = 0.0;          // added to HOG's decision threshold (negative: more, and more false, faces)
  bool landmarks = true;           // 68 landmarks, chips and descriptors (false: boxes only)
  int chip_size = 150;             // aligned chip side (the descriptor network wants 150)
  double chip_padding = 0.25;      // dlib's get_face_chip_details padding
  std::string model;               // descriptor model id (empty when landmarks are off)
  double crop_margin = 0.3;        // crop = box grown by this fraction of its size on each side
  int jitter = 1;                  // >1: each descriptor is the mean over this many jittered chips (1..100)
};

// The canonical JSON: every key, sorted, fixed types. Same params -> same bytes -> same version.
nlohmann::json to_json(const PipelineParams& p);
std::string canonical_json(const PipelineParams& p);
// First 16 hex digits of XXH3-128 of canonical_json().
std::string version_of(const PipelineParams& p);
// Strict: unknown keys, wrong types or values out of range are errors; missing keys take the defaults.
Result<PipelineParams> from_json(const nlohmann::json& j);

// key=value as typed on a command line ("min_face=40", "landmarks=false"). Validates the key and the value.
Result<void> set_param(PipelineParams& p, const std::string& key, const std::string& value);
const std::vector<std::string>& param_keys();

struct Pipeline {
  std::string name;
  PipelineParams params;
  std::string version;
  int64_t updated_at = 0;
};

// The model id the configured model has, computed the way lib/face's load_encoder does (sha256 of the source
// file), without loading the network: "dlib-dat-<16 hex>" for a user .dat, else "faceapi-resnet-<16 hex>".
Result<std::string> configured_model_id(const std::filesystem::path& models_dir, const std::filesystem::path& user_dat);

// Reads a pipeline row; an Error when it does not exist or its params are malformed.
Result<Pipeline> load_pipeline(catalog::Db& db, const std::string& name);
bool pipeline_exists(catalog::Db& db, const std::string& name);
// The stored version of pipeline `name`, or "" when the catalog has no such pipeline.
std::string pipeline_version(catalog::Db& db, const std::string& name);
// Writes (inserts or replaces) a pipeline row with its version. Returns the stored row.
Pipeline save_pipeline(catalog::Db& db, const std::string& name, const PipelineParams& p);
// The stored pipeline, or (when absent) `defaults` saved under `name` first. Needs a writable catalog when absent.
Result<Pipeline> ensure_pipeline(catalog::Db& db, const std::string& name, const PipelineParams& defaults);
std::vector<Pipeline> list_pipelines(catalog::Db& db);
bool valid_pipeline_name(const std::string& name);

}  // namespace facecat::faces_store

namespace facecat {
class Config;
}
namespace facecat::faces_store {
// The parameters a new pipeline gets from the config: faces.decode, faces.detector, faces.min_face, faces.upsample,
// faces.crop_margin, and the configured model's id (faces.recognition_model or the face-api weights).
Result<PipelineParams> pipeline_from_config(const Config& cfg);
// Warnings for config values (set away from their defaults) that a stored pipeline overrides.
std::vector<std::string> config_overridden_by(const Config& cfg, const Pipeline& p);
}  // namespace facecat::faces_store
