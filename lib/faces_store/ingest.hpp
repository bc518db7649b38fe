// facecat-catalog ingest: facecat-detect's face JSONL into the catalog, idempotently (see store.hpp for the
// rules). Lines are grouped into detections; each complete detection is stored, in short transactions of a few
// detections. A malformed line is reported as name:line and skipped (with the rest of its detection).
#pragma once
#include <functional>
#include <istream>
#include <nlohmann/json.hpp>
#include <string>

#include "catalog/db.hpp"

namespace facecat::faces_store {

struct IngestCounts {
  int64_t lines = 0, detections = 0, faces = 0, replaced = 0, kept_assignments = 0, unknown_files = 0;
  int64_t file_errors = 0;  // error records from detect (stored as detections with an error when they carry a hash)
  int64_t bad_lines = 0;    // malformed or incomplete input (each reported)
  nlohmann::json to_json() const;
};

using EventSink = std::function<void(const nlohmann::json&)>;
// name: how the input is named in messages ("-" is shown as "<stdin>"). Throws Interrupted after committing what
// was complete when a stop is requested.
IngestCounts ingest_stream(catalog::Db& db, std::istream& in, const std::string& name, const EventSink& event);

}  // namespace facecat::faces_store
