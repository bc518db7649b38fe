// facecat-catalog merge: joins another catalog (typically a detect shard: `facecat-detect --shard i/n` on another
// machine, into that machine's own catalog) into this one.
//
// What is merged, in one transaction per other catalog:
// - files:      rows whose path (after the path map) this catalog lacks; rows it has win and are not touched.
//               duplicate_of is set the way facecat-scan sets it (the first present row with the same hash).
// - pipelines:  names this catalog lacks. A name it has with other params keeps ours (a warning says so); the
//               other catalog's detections of that version are merged all the same (they are keyed by version).
// - models:     ids this catalog lacks.
// - detections: (content hash, pipeline version) pairs this catalog lacks, each with its faces (new face ids; crop
//               paths through the path map). A pair this catalog has wins: a shard never replaces a result.
// Not merged: scans (history of the other machine), meta. A catalog with people, person assignments or clusters,
// VK crawl data or video scenes is refused as a whole: those carry ids and decisions that cannot be joined
// without asking; a detect shard has none of them.
// So merging the same catalog twice changes nothing, and merging shards in any order gives the same faces.
#pragma once
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "catalog/db.hpp"
#include "util/path_map.hpp"
#include "util/result.hpp"

namespace facecat::catalog {

struct MergeCounts {
  int64_t files = 0, files_known = 0;            // inserted; already here (kept ours)
  int64_t detections = 0, detections_known = 0;  // inserted (with their faces); already here (kept ours)
  int64_t faces = 0, pipelines = 0, models = 0;
  int64_t faces_blocked = 0;                     // erased here with --block: not merged back
  std::vector<std::string> warnings;
  nlohmann::json to_json() const;
};

// Opens `other` read-only (it is never written) and merges it into `db` inside one transaction. Errors (not a
// SQLite file, not a facecat catalog, a newer schema, people/VK/video data) leave `db` unchanged. Throws
// Interrupted (after rolling back) when a stop is requested.
Result<MergeCounts> merge_catalog(Db& db, const std::filesystem::path& other, const util::PathMap& paths);

}  // namespace facecat::catalog
