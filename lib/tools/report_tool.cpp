#include <spdlog/spdlog.h>

#include "catalog/catalog.hpp"
#include "core/exit_codes.hpp"
#include "core/output.hpp"
#include "core/signals.hpp"
#include "core/tool.hpp"
#include "face/analyzer.hpp"
#include "match/match.hpp"
#include "report/report.hpp"
#include "search/faces.hpp"
#include "tools/common.hpp"
#include "tools/face_config.hpp"
#include "tools/report_tool.hpp"

namespace facecat::tools {

int report_main(int argc, char** argv) {
  CLI::App app{"facecat-report: write a static HTML gallery of the catalog (people with face thumbnails and counts,\n"
               "unassigned clusters, and a match sheet for --target photos). Opens from disk: no server, no network.\n"
               "The folder is replaced as a whole. Prints one JSON summary on stdout."};
  app.set_version_flag("--version", FACECAT_VERSION);
  CommonOptions common;
  add_common_options(app, common);
  std::string out, model;
  std::vector<std::string> targets;
  int per_page = 60, faces_per_page = 400;
  bool chip = false, crop = false;
  app.add_option("--out", out, "the report folder (written beside, then swapped into place)")->required();
  app.add_option("--target", targets, "photos for the match sheet (their faces beside ranked candidates)");
  app.add_flag("--chip", chip, "the --target images are already aligned face chips");
  app.add_flag("--crop", crop, "the --target images are tight crops around one face");
  app.add_option("--people-per-page", per_page, "cards per listing page")->check(CLI::PositiveNumber);
  app.add_option("--faces-per-page", faces_per_page, "thumbnails per person page")->check(CLI::PositiveNumber);
  app.add_option("--model", model, "only faces of this descriptor model");
  if (!parse_command_line(app, argc, argv)) return exit_code::ok;
  Config cfg;
  if (!setup_tool("facecat-report", common, {}, cfg)) return exit_code::ok;
  auto cat = open_catalog(cfg, catalog::Mode::Read);

  report::Options ro;
  ro.out = out;
  ro.people_per_page = per_page;
  ro.faces_per_page = faces_per_page;
  ro.model_id = model.empty() ? "" : value_or_throw(search::pick_model(cat.db(), model));
  std::vector<report::MatchEntry> entries;
  int failures = 0;
  if (!targets.empty()) {
    face::AnalyzerConfig ac = analyzer_config(cfg);
    auto analyzer = value_or_throw(face::FaceAnalyzer::create(ac));
    auto model_id = value_or_throw(search::pick_model(cat.db(), analyzer.model_id()));
    auto faces = value_or_throw(search::load_faces(cat.db(), model_id));
    search::EngineOptions eo;
    eo.faiss_min = static_cast<size_t>(std::max<int64_t>(0, cfg.get_int("search.faiss_min")));
    eo.index_dir = cat.path().parent_path();
    eo.index_stem = cat.path().filename().string();
    auto index = value_or_throw(search::make_index(faces.matrix, eo));
    match::Matcher matcher(cat.db(), faces, *index);
    match::Options mo;
    mo.tolerance = cfg.get_double("faces.tolerance");
    mo.top = static_cast<int>(std::max<int64_t>(1, cfg.get_int("search.top")));
    face::DetectParams dp = detect_params(cfg);
    for (auto& t : targets) {
      throw_if_interrupted();
      auto img = match::describe_image(analyzer, t, dp, chip ? match::TargetMode::Chip : crop ? match::TargetMode::Crop : match::TargetMode::Photo);
      if (!img) {
        spdlog::error("{}", img.error().message);
        ++failures;
        continue;
      }
      for (auto& f : img->faces)
        entries.push_back({t, f.box, matcher.match(f.descriptor.data(), mo), mo.tolerance});
      if (img->faces.empty()) spdlog::warn("{}: no face found", t);
    }
  }
  auto st = value_or_throw(report::write(cat.db(), ro, entries));
  json r{{"event", "report"}, {"person_count", st.people}, {"cluster_count", st.clusters}, {"face_count", st.faces},
         {"page_count", st.pages}, {"made_thumb_count", st.thumbs_made}, {"reused_thumb_count", st.thumbs_reused},
         {"missing_thumb_count", st.thumbs_missing}, {"match_face_count", entries.size()}};
  put_path(r, std::filesystem::absolute(out).lexically_normal().string(), "out");
  emit(r);
  return failures ? exit_code::some_failed : exit_code::ok;
}

}  // namespace facecat::tools
