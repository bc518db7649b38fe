#include "tools/detect_tool.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <iostream>
#include <memory>

#include "core/exit_codes.hpp"
#include "core/format.hpp"
#include "core/output.hpp"
#include "core/owned_dir.hpp"
#include "core/progress.hpp"
#include "core/signals.hpp"
#include "core/tool.hpp"
#include "detect/runner.hpp"
#include "faces_store/pipeline.hpp"
#include "faces_store/store.hpp"
#include "tools/common.hpp"
#include "util/atomic_file.hpp"
#include "util/path_map.hpp"
#include "util/text.hpp"

namespace facecat::tools {
namespace {
namespace fs = std::filesystem;
using clk = std::chrono::steady_clock;

// --params: JSON text, or a file holding it (e.g. `facecat-catalog pipeline show NAME` output).
faces_store::PipelineParams parse_params_option(const std::string& v) {
  std::string text = v;
  if (util::trim(v).rfind('{', 0) != 0) {
    auto f = util::read_file(v, 1 << 20);
    if (!f) throw Fatal("--params: cannot read " + v + ": " + f.error().message, exit_code::usage);
    text = *f;
  }
  auto j = json::parse(text, nullptr, false);
  if (j.is_discarded()) throw Fatal("--params: not JSON", exit_code::usage);
  if (j.is_object() && j.contains("params") && j["params"].is_object()) j = j["params"];  // pipeline show output
  auto p = faces_store::from_json(j);
  if (!p) throw Fatal("--params: " + p.error().message, exit_code::usage);
  return *p;
}

// One input line: a path, or a JSON record with path/path_b64 (scan's events, pending detect's work list).
// Returns nothing for records that are not work (scan's missing/error events, videos, other files).
std::optional<detect::Input> parse_input_line(const std::string& line, int64_t lineno) {
  std::string s = line;
  if (!s.empty() && s.back() == '\r') s.pop_back();
  if (s.empty()) return std::nullopt;
  if (s[0] != '{') return detect::Input{s, {}, {}};
  auto j = json::parse(s, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    detect::Input in;
    in.path = "<stdin>:" + std::to_string(lineno);
    in.error = "not valid JSON";
    return in;
  }
  if (auto e = j.find("event"); e != j.end() && e->is_string() && (*e == "missing" || *e == "error")) return std::nullopt;
  if (auto k = j.find("kind"); k != j.end() && k->is_string() && *k != "image") return std::nullopt;
  detect::Input in;
  in.path = get_path(j, "path");
  if (in.path.empty()) in.path = get_path(j, "file");
  if (in.path.empty()) {
    in.path = "<stdin>:" + std::to_string(lineno);
    in.error = "no \"path\" in the record";
    return in;
  }
  if (auto h = j.find("hash"); h != j.end() && h->is_string()) in.expected_hash = h->get<std::string>();
  return in;
}

// --shard i/n: 1 <= i <= n.
std::pair<int, int> parse_shard(const std::string& v) {
  auto slash = v.find('/');
  auto i = util::parse_int(v.substr(0, slash == std::string::npos ? v.size() : slash));
  auto n = slash == std::string::npos ? std::nullopt : util::parse_int(v.substr(slash + 1));
  if (!i || !n || *n < 1 || *n > 1000000 || *i < 1 || *i > *n)
    throw Fatal("--shard expects i/n with 1 <= i <= n (e.g. 2/3), got '" + v + "'", exit_code::usage);
  return {int(*i), int(*n)};
}

// The catalog writer: short transactions of a few files (or half a second).
class Writer {
 public:
  explicit Writer(catalog::Db& db) : db_(db), host_(faces_store::host_name()) {}
  ~Writer() = default;
  bool store(const faces_store::DetectionRecord& d) {
    if (!tx_) {
      tx_ = std::make_unique<catalog::Transaction>(db_);
      t0_ = clk::now();
    }
    auto r = faces_store::store_detection(db_, d, host_);
    if (!r) {
      spdlog::error("{}: {}", util::utf8_lossy(d.file), r.error().message);
      return false;
    }
    if (++n_ >= 16 || clk::now() - t0_ > std::chrono::milliseconds(500)) commit();
    return true;
  }
  void commit() {
    if (tx_) tx_->commit();
    tx_.reset();
    n_ = 0;
  }

 private:
  catalog::Db& db_;
  std::string host_;
  std::unique_ptr<catalog::Transaction> tx_;
  int n_ = 0;
  clk::time_point t0_;
};

// On a terminal (or --format table/csv): one row per face, no descriptors.
void detect_table() {
  auto box = [](const json& r) -> std::string {
    auto b = r.find("box");
    if (b == r.end() || !b->is_array() || b->size() != 4) return "";
    return fmt::format("{},{} {}x{}", (*b)[0].dump(), (*b)[1].dump(), (*b)[2].dump(), (*b)[3].dump());
  };
  auto quality = [](const char* k) {
    return [k](const json& r) -> std::string {
      auto q = r.find("quality");
      if (q == r.end() || !q->is_object() || !q->contains(k) || !(*q)[k].is_number()) return "";
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.2f", (*q)[k].get<double>());
      return buf;
    };
  };
  auto conf = [](const json& r) -> std::string {
    if (!r.contains("conf") || !r["conf"].is_number()) return "";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f", r["conf"].get<double>());
    return buf;
  };
  RecordPrinter* p = use_columns({{"PATH", "path", nullptr, false},
                                  {"FACE", "face_index", nullptr, true},
                                  {"FACES", "face_count", nullptr, true},
                                  {"BOX", "", box, false},
                                  {"CONF", "", conf, true},
                                  {"BLUR", "", quality("blur"), true},
                                  {"FRONTAL", "", quality("frontal"), true},
                                  {"CROP", "crop", nullptr, false}},
                                 {"face", "file"});
  if (p && p->format() == OutputFormat::table)
    p->on_other = [](const json& r) {
      std::string line;
      if (r.value("event", "") == "pipeline")
        line = fmt::format("pipeline {} (version {})\n", r.value("pipeline_name", std::string()),
                           r.value("pipeline", std::string()));
      else if (r.value("event", "") == "error")
        line = fmt::format("error: {}: {}\n", r.value("path", std::string()), r.value("reason", std::string()));
      else
        line = summary_line(r) + "\n";
      write_stdout(line);
    };
}

}  // namespace

int detect_main(int argc, char** argv) {
  CLI::App app{
      "facecat-detect: find faces, landmarks, crops and descriptors.\n"
      "  facecat-detect                 every file pending for the pipeline in the catalog (results are stored)\n"
      "  facecat-detect --stdin         paths or scan/pending JSONL on stdin -> face JSONL (no catalog needed)\n"
      "  facecat-detect PATH...         the given images -> face JSONL (no catalog needed)\n"
      "Prints a {\"event\":\"pipeline\"} record, then one \"face\" record per face, a \"file\" record (face_count 0) for\n"
      "a file without faces and an \"error\" record for a bad file (docs/schema). On a terminal: a table without\n"
      "descriptors (--format jsonl prints them)."};
  app.set_version_flag("--version", FACECAT_VERSION);
  CommonOptions common;
  add_common_options(app, common);
  std::vector<std::string> paths;
  bool from_stdin = false, ingest = false, landmarks = false, no_crops = false, retry_errors = false;
  std::string pipeline, params_opt, chips, shard_opt;
  std::vector<std::string> path_maps;
  int threads = -1;
  app.add_option("PATH", paths, "images to analyse (no catalog needed)");
  app.add_flag("--stdin", from_stdin, "read paths (one per line) or JSONL records with path/path_b64 from stdin");
  app.add_option("--pipeline", pipeline, "the named pipeline " + env_help("faces.pipeline"));
  app.add_option("--params", params_opt,
                 "pipeline params as JSON or a file holding them (facecat-catalog pipeline show output); "
                 "for workers without the catalog");
  app.add_flag("--ingest", ingest, "with PATH or --stdin: also store the results in the catalog");
  app.add_flag("--landmarks", landmarks, "add the 68 landmarks to each face record");
  app.add_flag("--no-crops", no_crops, "do not write face crops");
  app.add_option("--chips", chips, "also export each face's aligned chip as PNG under DIR " +
                                       env_help("faces.chips_path"));
  app.add_flag("--retry-errors", retry_errors, "catalog mode: also retry files whose detection failed before");
  app.add_option("-j,--threads", threads, "worker threads " + env_help("faces.threads"));
  app.add_option("--shard", shard_opt,
                 "catalog mode: only this machine's share i/n of the pending files (by content hash, so shares "
                 "stay stable as files come and go); join the catalogs with facecat-catalog merge");
  app.add_option("--path-map", path_maps,
                 "FROM=TO: input paths under FROM (the catalog's view of a shared mount) are read under TO here; "
                 "file and crop paths in the output are mapped back (repeatable)");
  if (!parse_command_line(app, argc, argv)) return exit_code::ok;
  std::map<std::string, std::string> flags;
  if (!pipeline.empty()) flags["faces.pipeline"] = pipeline;
  if (threads >= 0) flags["faces.threads"] = std::to_string(threads);
  if (!chips.empty()) flags["faces.chips_path"] = chips;
  Config cfg;
  if (!setup_tool("facecat-detect", common, flags, cfg)) return exit_code::ok;
  if (from_stdin && !paths.empty()) throw Fatal("give PATHs or --stdin, not both", exit_code::usage);
  const bool catalog_mode = !from_stdin && paths.empty();
  if (catalog_mode && ingest) throw Fatal("--ingest goes with PATH or --stdin (catalog mode always stores)", exit_code::usage);
  std::optional<std::pair<int, int>> shard;
  if (!shard_opt.empty()) {
    shard = parse_shard(shard_opt);
    if (!catalog_mode) throw Fatal("--shard goes with catalog mode (no PATH, no --stdin)", exit_code::usage);
  }
  util::PathMap pmap;
  for (const auto& m : path_maps)
    if (auto r = pmap.add(m); !r) throw Fatal("--path-map: " + r.error().message, exit_code::usage);
  const std::string name = cfg.get("faces.pipeline");
  if (!faces_store::valid_pipeline_name(name))
    throw Fatal("bad pipeline name '" + name + "' (letters, digits, '_', '-', '.')", exit_code::usage);

  // --- the pipeline: catalog (catalog mode, --ingest, --catalog), --params, or the config -----------------------
  std::optional<catalog::Catalog> cat;
  faces_store::Pipeline pl;
  pl.name = name;
  const bool use_catalog = catalog_mode || ingest || !common.catalog.empty();
  if (use_catalog) cat.emplace(open_catalog(cfg, catalog_mode || ingest ? catalog::Mode::Write : catalog::Mode::Read));
  if (!params_opt.empty()) {
    pl.params = parse_params_option(params_opt);
  } else if (cat && faces_store::pipeline_exists(cat->db(), name)) {
    pl = value_or_throw(faces_store::load_pipeline(cat->db(), name));
  } else {
    pl.params = value_or_throw(faces_store::pipeline_from_config(cfg));
    if (cat && cat->writable()) pl = faces_store::save_pipeline(cat->db(), name, pl.params);
  }
  pl.version = faces_store::version_of(pl.params);
  if (cat || !params_opt.empty())
    for (const auto& w : faces_store::config_overridden_by(cfg, pl)) spdlog::warn("{}", w);

  // --- the analyzer --------------------------------------------------------------------------------------------
  face::AnalyzerConfig ac;
  ac.model.models_dir = cfg.get_path("faces.models_dir");
  ac.model.user_dat = cfg.get_path("faces.recognition_model");
  ac.model.backend = cfg.get("faces.descriptor_backend");
  ac.shape_predictor = cfg.get_path("faces.shape_predictor");
  ac.load_encoder = pl.params.landmarks;
  // the pipeline's detector must load here (a usage error at start, not one error per file)
  if (pl.params.detector == "tiny+hog") ac.load_tiny = "yes";
  if (pl.params.detector == "ultraface") ac.load_ultraface = "yes";
  auto t_load = clk::now();
  auto an = face::FaceAnalyzer::create(ac);
  if (!an) throw Fatal(an.error().message, exit_code::usage);
  if (pl.params.landmarks && an->model_id() != pl.params.model)
    throw Fatal("pipeline '" + name + "' (version " + pl.version + ") uses model " + pl.params.model +
                    " but the configured model is " + an->model_id() +
                    "; point faces.recognition_model at that model, or switch the pipeline with: facecat-catalog "
                    "pipeline set " + name + " model=" + an->model_id(),
                exit_code::usage);
  spdlog::debug("models loaded in {:.2f} s", std::chrono::duration<double>(clk::now() - t_load).count());

  detect::Options o;
  o.params = pl.params;
  o.pipeline_name = name;
  o.version = pl.version;
  o.max_pixels = cfg.get_int("faces.max_pixels");
  o.threads = static_cast<int>(cfg.get_int("faces.threads"));
  if (!no_crops) o.crops_dir = cfg.get_path("faces.CroppedFacesPath");
  o.chips_dir = cfg.get_path("faces.chips_path");
  if (!o.chips_dir.empty() && !pl.params.landmarks)
    spdlog::warn("pipeline '{}' has no landmarks, so there are no aligned chips to export", name);
  // Crops and chips go only into folders that are facecat's (a marker; ARCHITECTURE.md, "What facecat deletes").
  if (!o.crops_dir.empty())
    value_or_throw(claim_output_dir(o.crops_dir, OwnedDirKind::Crops, "faces.CroppedFacesPath"));
  if (!o.chips_dir.empty() && pl.params.landmarks)
    value_or_throw(claim_output_dir(o.chips_dir, OwnedDirKind::Chips, "--chips (faces.chips_path)"));

  // --- the input ------------------------------------------------------------------------------------------------
  std::vector<detect::Input> list;
  if (catalog_mode) {
    auto pend = faces_store::pending_files(cat->db(), pl.version);
    if (retry_errors) {
      auto s = cat->db().prepare(
          "SELECT min(f.path), f.hash FROM files f JOIN detections d ON d.file_hash = f.hash AND "
          "d.pipeline_version = ?1 WHERE d.error IS NOT NULL AND f.kind = 'image' AND f.status = 'present' AND "
          "f.error IS NULL GROUP BY f.hash ORDER BY 1");
      s.bind(1, pl.version);
      while (s.step()) pend.push_back({s.blob(0), s.text(1), {}});
    }
    if (shard) {
      const size_t before = pend.size();
      std::erase_if(pend, [&](const faces_store::PendingFile& p) {
        return faces_store::shard_of(p.hash, shard->second) != shard->first - 1;
      });
      spdlog::info("shard {}/{}: {} of {} pending file(s)", shard->first, shard->second, pend.size(), before);
    }
    std::vector<std::string> hashes;
    for (auto& p : pend) {
      hashes.push_back(p.hash);
      list.push_back({p.path, p.hash, {}});
    }
    spdlog::info("pipeline '{}' (version {}): {} file(s) pending", name, pl.version, list.size());
    if (!o.crops_dir.empty()) detect::sweep_temp_crops(o.crops_dir, hashes);
  } else {
    for (auto& p : paths) list.push_back({p, {}, {}});
  }
  size_t next = 0;
  int64_t lineno = 0;
  auto mapped = [&](detect::Input in) {
    if (in.error.empty()) in.path = pmap.forward(in.path);
    return in;
  };
  detect::Source source = [&]() -> std::optional<detect::Input> {
    if (!from_stdin) {
      if (next >= list.size()) return std::nullopt;
      return mapped(std::move(list[next++]));
    }
    std::string line;
    while (std::getline(std::cin, line)) {
      ++lineno;
      if (auto in = parse_input_line(line, lineno)) return mapped(std::move(*in));
    }
    return std::nullopt;
  };

  // --- the sink: records on stdout; the catalog writer -------------------------------------------------------------
  // A bar on a TTY: of the known total in catalog and PATH modes, a running count with --stdin.
  Progress progress("detect", from_stdin ? 0 : list.size(), fancy_stderr() && !common.quiet);
  std::optional<Writer> writer;
  if (cat && cat->writable()) writer.emplace(cat->db());
  detect_table();
  // The pipeline once, before the first result (records do not repeat its params); nothing when nothing is done.
  bool pipeline_printed = false;
  auto print_pipeline = [&] {
    if (!pipeline_printed) emit(faces_store::pipeline_record(name, pl.version, pl.params));
    pipeline_printed = true;
  };
  int64_t failed = 0;
  detect::Sink sink = [&](detect::Outcome& out) {
    auto& r = out.rec;
    if (!pmap.empty()) {  // results name the catalog's paths; ingest finds the file by its hash all the same
      r.file = pmap.back(r.file);
      for (auto& f : r.faces) {
        if (!f.crop_path.empty()) f.crop_path = pmap.back(f.crop_path);
        if (!f.chip_path.empty()) f.chip_path = pmap.back(f.chip_path);
      }
    }
    // Faces a person had erased with --block: neither printed nor stored (catalog mode; ingest drops them too).
    if (writer && r.error.empty()) faces_store::drop_blocked_faces(cat->db(), r);
    print_pipeline();
    if (!r.error.empty()) {
      ++failed;
      spdlog::error("{}: {}", util::utf8_lossy(r.file), r.error);
      json e = faces_store::to_records(r, false).front();
      if (out.retry) e["retry"] = true;
      emit(e);
    } else {
      for (const auto& rec : faces_store::to_records(r, landmarks)) emit(rec);
    }
    // Failures that are not a property of the content (unreadable, changed since the scan) are not stored.
    if (writer && !out.retry && !r.file_hash.empty() && !writer->store(r)) ++failed;
    progress.tick(1, r.file);
  };
  auto t0 = clk::now();
  detect::Stats st;
  try {
    st = detect::run(*an, o, source, sink);
  } catch (const BrokenPipe&) {
    if (writer) writer->commit();  // the reader went away: keep what was stored
    throw;
  } catch (const Interrupted&) {
    if (writer) writer->commit();
    throw;
  }
  if (writer) writer->commit();  // what finished is kept, also when a stop was requested
  progress.finish();
  const double secs = std::chrono::duration<double>(clk::now() - t0).count();
  spdlog::info("{} file(s), {} face(s), {} error(s) in {:.2f} s ({:.2f} files/s)", st.files, st.faces, failed, secs,
               secs > 0 ? double(st.files) / secs : 0.0);
  if (st.files)
    spdlog::info("per file (thread time): read {:.1f} ms, decode {:.1f}, detect {:.1f}, landmarks+chips {:.1f}, "
                 "describe {:.1f}, crops {:.1f}",
                 st.read_ms / st.files, st.decode_ms / st.files, st.detect_ms / st.files, st.landmarks_ms / st.files,
                 st.describe_ms / st.files, st.crops_ms / st.files);
  throw_if_interrupted();
  return failed ? exit_code::some_failed : exit_code::ok;
}

}  // namespace facecat::tools
