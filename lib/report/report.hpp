// A static HTML gallery of the catalog's people: plain pages that open from disk (no server, no network, no
// script needed), thumbnails made from the face crops, paged so that 10,000 faces stay usable (and every <img> is
// loading="lazy"). The whole folder is built beside the target and renamed into place: a reader never sees half a
// report.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include "catalog/db.hpp"
#include "match/match.hpp"
#include "util/result.hpp"

namespace facecat::report {

struct Options {
  std::filesystem::path out;
  int people_per_page = 60;
  int faces_per_page = 400;   // on a person's page
  int preview_faces = 8;      // thumbnails per person on the index
  int thumb_size = 112;
  std::string model_id;       // only faces of this model (empty: all)
};

// One target face and its ranked candidates, for the match sheet.
struct MatchEntry {
  std::filesystem::path target;
  face::Box box;
  match::FaceResult result;
  double tolerance = 0.5;
};

struct Stats {
  size_t people = 0, clusters = 0, faces = 0, thumbs_made = 0, thumbs_reused = 0, thumbs_missing = 0, pages = 0;
};

Result<Stats> write(catalog::Db& db, const Options& opts, const std::vector<MatchEntry>& matches);

// HTML-escapes text (also for attribute values).
std::string escape(std::string_view s);

}  // namespace facecat::report
