// facecat-scan's engine: walk folders, detect new/changed/moved/missing files, hash (XXH3-128) and read
// metadata in parallel (TBB), and write the catalog from one thread in short transactions.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "catalog/catalog.hpp"

namespace facecat::scan {

struct Options {
  std::vector<std::filesystem::path> roots;
  std::vector<std::string> excludes;   // basename globs, on top of default_excludes()
  bool follow_symlinks = false;
  int threads = 0;
  bool emit_unchanged = false;         // --all
  bool prune = false;                  // delete rows of missing files
  uint64_t max_file_bytes = 4ull << 30;
  bool progress = false;
};

struct Counts {
  uint64_t seen = 0, new_ = 0, changed = 0, moved = 0, missing = 0, errors = 0, warnings = 0, unchanged = 0,
           skipped = 0, pruned = 0, bytes_hashed = 0;
  nlohmann::json to_json() const;
};

const std::vector<std::string>& default_excludes();

using Emit = std::function<void(const nlohmann::json&)>;
// Emits one JSON event per file. Throws Interrupted (after committing what was done) when a stop is requested.
Counts run(catalog::Catalog& cat, const Options& opts, const Emit& emit);

}  // namespace facecat::scan
