#include "search/faces.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/exit_codes.hpp"

namespace facecat::search {

std::vector<std::pair<std::string, int64_t>> model_counts(catalog::Db& db) {
  std::vector<std::pair<std::string, int64_t>> out;
  auto s = db.prepare(
      "SELECT model_id, count(*) FROM faces WHERE descriptor IS NOT NULL GROUP BY model_id ORDER BY 2 DESC, 1");
  while (s.step()) out.emplace_back(s.text(0), s.i64(1));
  return out;
}

Result<std::string> pick_model(catalog::Db& db, const std::string& wanted) {
  auto models = model_counts(db);
  if (!wanted.empty()) {
    std::vector<std::string> hits;
    for (auto& [m, n] : models)
      if (m == wanted || (wanted.size() >= 8 && m.rfind(wanted, 0) == 0)) hits.push_back(m);
    if (hits.size() == 1) return hits[0];
    if (hits.empty() && models.empty()) return wanted;  // an empty catalog: nothing to compare with yet
    if (hits.empty()) {
      std::string list;
      for (auto& [m, n] : models) list += fmt::format(" {} ({} faces)", m, n);
      return make_error(fmt::format("the catalog has no descriptors of model {}; it has:{}. Descriptors of different "
                                    "models are never compared: re-run facecat-detect with the same model, or pick "
                                    "one with --model",
                                    wanted, list),
                        exit_code::usage);
    }
    return make_error("model prefix " + wanted + " is ambiguous", exit_code::usage);
  }
  if (models.empty()) return std::string();
  if (models.size() == 1) return models[0].first;
  std::string list;
  for (auto& [m, n] : models) list += fmt::format(" {} ({} faces)", m, n);
  return make_error(fmt::format("the catalog holds descriptors of {} models, which are never compared with each "
                                "other; choose one with --model:{}",
                                models.size(), list),
                    exit_code::usage);
}

Result<FaceSet> load_faces(catalog::Db& db, const std::string& model_id) {
  FaceSet fs{Matrix(model_id), {}, 0};
  auto n = db.prepare("SELECT count(*) FROM faces WHERE model_id = ? AND descriptor IS NOT NULL AND label = 'face'");
  n.bind(1, model_id);
  if (n.step()) {
    fs.matrix.reserve(static_cast<size_t>(n.i64(0)));
    fs.meta.reserve(static_cast<size_t>(n.i64(0)));
  }
  auto s = db.prepare(
      "SELECT id, descriptor, person_id, coalesce(assignment, ''), cluster_id, file_hash FROM faces "
      "WHERE model_id = ? AND descriptor IS NOT NULL AND label = 'face' ORDER BY id");
  s.bind(1, model_id);
  while (s.step()) {
    auto d = decode_descriptor(s.blob(1));
    if (!d) {
      spdlog::warn("face {}: {} (skipped)", s.i64(0), d.error().message);
      ++fs.bad;
      continue;
    }
    fs.matrix.add(s.i64(0), d->data());
    fs.meta.push_back({s.i64(0), s.opt_i64(2), s.text(3), s.opt_i64(4), s.text(5)});
  }
  return fs;
}

}  // namespace facecat::search
