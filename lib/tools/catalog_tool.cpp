#include <spdlog/spdlog.h>

#include <filesystem>

#include "catalog/catalog.hpp"
#include "core/exit_codes.hpp"
#include "core/output.hpp"
#include "core/tool.hpp"
#include "tools/common.hpp"
#include "tools/tools.hpp"
#include "util/text.hpp"
#include "video/forget.hpp"

namespace facecat::tools {

namespace {

json stats(catalog::Db& db) {
  json out = {{"event", "stats"}};
  json files = json::object();
  auto s = db.prepare("SELECT kind, status, count(*), sum(size), sum(error IS NOT NULL) FROM files "
                      "GROUP BY kind, status ORDER BY kind, status");
  int64_t total = 0;
  while (s.step()) {
    files[s.text(0)][s.text(1)] = s.i64(2);
    files[s.text(0)]["bytes"] = files[s.text(0)].value("bytes", int64_t{0}) + s.i64(3);
    files[s.text(0)]["with_error"] = files[s.text(0)].value("with_error", int64_t{0}) + s.i64(4);
    total += s.i64(2);
  }
  out["files"] = files;
  out["files_total"] = total;
  out["duplicates"] = db.scalar_int("SELECT count(*) FROM files WHERE duplicate_of IS NOT NULL").value_or(0);
  out["faces"] = db.scalar_int("SELECT count(*) FROM faces").value_or(0);
  out["people"] = db.scalar_int("SELECT count(*) FROM people").value_or(0);
  out["scans"] = db.scalar_int("SELECT count(*) FROM scans").value_or(0);
  out["schema_version"] = db.scalar_int("PRAGMA user_version").value_or(0);
  return out;
}

}  // namespace

int catalog_main(int argc, char** argv) {
  CLI::App app{"facecat-catalog: inspect and maintain the catalog."};
  app.set_version_flag("--version", FACECAT_VERSION);
  app.require_subcommand(1);
  app.fallthrough();
  CommonOptions common;
  add_common_options(app, common);
  auto* st = app.add_subcommand("stats", "counts of files by kind and status, faces and people (JSON)");
  auto* ck = app.add_subcommand("check", "PRAGMA integrity_check plus facecat's invariants; exit 1 when not clean");
  auto* mg = app.add_subcommand("migrate", "upgrade the catalog's schema to this facecat's version");
  auto* fg = app.add_subcommand("forget", "remove a video's scene tasks, segments, frames (rows and files) and the "
                                          "faces and crops found on those frames");
  std::vector<std::string> forget_videos;
  fg->add_option("VIDEO", forget_videos, "video files, as given to facecat-scenes")->required();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : exit_code::usage;
  }
  Config cfg;
  if (!setup_tool("facecat-catalog", common, {}, cfg)) return exit_code::ok;

  if (st->parsed()) {
    auto cat = open_catalog(cfg, catalog::Mode::Read);
    emit(stats(cat.db()));
    return exit_code::ok;
  }
  if (ck->parsed()) {
    auto cat = open_catalog(cfg, catalog::Mode::Read);
    auto problems = catalog::check(cat.db());
    for (const auto& p : problems) {
      spdlog::error("{}: {}", cfg.get("catalog.path"), p);
      emit(json{{"event", "problem"}, {"problem", p}});
    }
    emit(json{{"event", "check"}, {"ok", problems.empty()}, {"problems", problems.size()}});
    return problems.empty() ? exit_code::ok : exit_code::some_failed;
  }
  if (fg->parsed()) {
    auto cat = open_catalog(cfg, catalog::Mode::Write);
    int failed = 0;
    for (const auto& v : forget_videos) {
      const std::string path = std::filesystem::absolute(v).lexically_normal().string();
      auto r = video::forget_video(cat.db(), path);
      if (!r) {
        spdlog::error("{}: {}", util::printable(path), r.error().message);
        json e = {{"event", "error"}};
        put_path(e, path);
        e["reason"] = r.error().message;
        emit(e);
        ++failed;
        continue;
      }
      for (const auto& d : r->disk_errors) spdlog::warn("cannot remove {}", d);
      json e = {{"event", "forgotten"}};
      put_path(e, path);
      e["file_id"] = r->file_id;
      e["tasks"] = r->removed.tasks;
      e["segments"] = r->removed.segments;
      e["frames"] = r->removed.frames;
      e["faces"] = r->removed.faces;
      e["frame_files_deleted"] = r->files_deleted;
      e["crops_deleted"] = r->crops_deleted;
      if (!r->disk_errors.empty()) e["disk_errors"] = r->disk_errors;
      emit(e);
      if (!r->disk_errors.empty()) ++failed;
    }
    return failed ? exit_code::some_failed : exit_code::ok;
  }
  if (mg->parsed()) {
    auto cat = open_catalog(cfg, catalog::Mode::Write);
    emit(json{{"event", "migrated"}, {"schema_version", cat.schema_version()}});
    return exit_code::ok;
  }
  return exit_code::usage;
}

}  // namespace facecat::tools
