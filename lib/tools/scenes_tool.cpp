#include "tools/scenes_tool.hpp"

#include <opencv2/core/utility.hpp>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>
#include <optional>
#include <set>
#include <sstream>

#include "catalog/catalog.hpp"
#include "core/exit_codes.hpp"
#include "core/output.hpp"
#include "core/owned_dir.hpp"
#include "core/progress.hpp"
#include "core/signals.hpp"
#include "core/tool.hpp"
#include "tools/common.hpp"
#include "util/atomic_file.hpp"
#include "util/hash.hpp"
#include "media/sniff.hpp"
#include "util/text.hpp"
#include "video/decode_bench.hpp"
#include "video/scenes.hpp"
#include "video/video_catalog.hpp"

namespace facecat::tools {

namespace fs = std::filesystem;

namespace {

double r6(double v) { return std::round(v * 1e6) / 1e6; }

struct Job {
  std::string path;        // absolute, normalised, raw bytes
  int64_t file_id = 0;
  int64_t task_id = 0;
  std::string error;       // registration failed
};

struct RunSettings {
  video::Options opts;
  fs::path out;
  bool csv = false, edl = false, stats = false, frames = true;
  bool progress = false;
  std::string params;      // canonical JSON of opts.params()
};

// Why a path cannot be split into scenes before anything is decoded or registered ("" when it looks like a video):
// the kind comes from the content, as in facecat-scan, and a photo is pointed to facecat-detect.
std::string not_a_video(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) return "a folder, not a video (pass the video files)";
  auto head = util::read_file_head(path, 4096);
  if (!head) {
    auto m = head.error().message;  // "<path>: <reason>": the path is already in the line
    return m.rfind(path + ": ", 0) == 0 ? m.substr(path.size() + 2) : m;
  }
  if (head->empty()) return "empty file";
  auto s = media::sniff(*head);
  if (s.kind == media::Kind::Video) return "";
  if (s.kind == media::Kind::Image) return "a " + s.format + " image, not a video: facecat-detect finds the faces in photos";
  return "not a video file (unknown content)";
}

void report_error(const std::string& path, const std::string& reason, int64_t task_id = 0) {
  spdlog::error("{}: {}", util::printable(path), reason);
  json e = {{"event", "error"}};
  put_path(e, path);
  e["reason"] = reason;
  if (task_id) e["task_id"] = task_id;
  emit(e);
}

// One video: detect, save frames, write CSV/EDL, record in the catalog, then print. Nothing is printed or kept
// for a video that fails.
Result<void> process(const Job& job, const RunSettings& rs, catalog::Catalog* cat) {
  const auto t0 = std::chrono::steady_clock::now();
  auto dec_r = video::Decoder::open(job.path, rs.opts.threads);
  if (!dec_r) return dec_r.error();
  auto& dec = **dec_r;
  if (cat && job.task_id) video::set_task_running(cat->db(), job.task_id);

  const std::string stem = fs::path(job.path).stem().string();
  Progress progress(util::utf8_lossy(stem), static_cast<uint64_t>(std::max<int64_t>(0, dec.info().declared_frames)),
                    rs.progress);
  int64_t shown = 0;
  auto a_r = video::analyze(dec, rs.opts, [&](int64_t n) {
    if (n > shown) progress.tick(static_cast<uint64_t>(n - shown));
    shown = n;
  });
  progress.finish();
  if (!a_r) return a_r.error();
  const auto& a = *a_r;
  if (!a.warning.empty()) spdlog::warn("{}: {}", util::printable(job.path), a.warning);

  // Each video and parameter set gets its own folder, so a re-run replaces exactly its own files.
  const fs::path dir = rs.out / (stem + "-" + util::xxh3_128_hex(job.path + '\0' + rs.params).substr(0, 8));
  std::vector<video::SavedFrame> saved;
  std::set<std::string> preexisting;
  if (rs.frames) {
    auto picks = video::pick_frames(a, rs.opts.frames_per_scene, rs.opts.black_level, rs.opts.blur_ratio);
    std::error_code ec;
    // Temp frames of a run that was killed while writing this folder are not frames: remove, not keep.
    if (int n = util::remove_atomic_temps(dir))
      spdlog::info("{}: removed {} temp frame(s) left by an interrupted run", util::printable(job.path), n);
    if (fs::is_directory(dir, ec))
      for (const auto& de : fs::directory_iterator(dir, ec)) preexisting.insert(de.path().string());
    auto s = video::save_frames(dec, picks, dir, stem, static_cast<int>(a.scenes.size()), rs.opts.jpeg_quality,
                                &a.ready);
    if (!s) return s.error();
    saved = std::move(*s);
  }
  // Frames this run created (not those it rewrote in place): removed again if a later step fails.
  auto undo = [&] {
    std::vector<std::string> created;
    for (const auto& f : saved)
      if (!preexisting.count(f.path.string())) created.push_back(f.path.string());
    video::remove_from_disk(created, nullptr, true);
  };
  auto write_side = [&](const char* ext, const std::string& text) -> Result<void> {
    std::error_code ec;
    fs::create_directories(dir, ec);
    auto p = dir / (stem + ext);
    auto w = util::write_file_atomic(p, text);
    if (!w) return make_error("cannot write " + p.string() + ": " + w.error().message);
    return {};
  };
  if (rs.csv) {
    auto w = write_side("-Scenes.csv", video::scenes_csv(a));
    if (!w) {
      undo();
      return w;
    }
  }
  if (rs.stats) {
    auto w = write_side(".stats.csv", video::stats_csv(a));
    if (!w) {
      undo();
      return w;
    }
  }
  if (rs.edl) {
    auto w = write_side(".edl", video::scenes_edl(a, stem));
    if (!w) {
      undo();
      return w;
    }
  }

  video::Finished fin;
  if (cat && job.task_id) {
    try {
      fin = video::finish_task(cat->db(), job.task_id, job.file_id, rs.params, a, saved);
    } catch (const catalog::DbError& e) {
      undo();
      return make_error(std::string("catalog: ") + e.what(), exit_code::catalog);
    }
    // The replaced task's files that this run did not write again, and crops of faces that went with them.
    std::set<std::string> now;
    for (const auto& f : saved) now.insert(f.path.string());
    std::vector<std::string> stale;
    for (const auto& p : fin.replaced.frame_paths)
      if (!now.count(p)) stale.push_back(p);
    std::vector<std::string> errs;
    video::remove_from_disk(stale, &errs, true);
    video::remove_from_disk(fin.replaced.crop_paths, &errs);
    for (const auto& e : errs) spdlog::warn("cannot remove {}", e);
  }

  // Output: one record per scene, then the video's summary.
  std::vector<std::vector<const video::SavedFrame*>> by_scene(a.scenes.size());
  std::vector<int64_t> file_id_of(saved.size(), 0);
  for (size_t i = 0; i < saved.size(); ++i) {
    by_scene[static_cast<size_t>(saved[i].pick.scene)].push_back(&saved[i]);
    if (i < fin.frame_file_ids.size()) file_id_of[i] = fin.frame_file_ids[i];
  }
  for (const auto& s : a.scenes) {
    json e = {{"event", "scene"}};
    put_path(e, job.path);
    e["scene_index"] = s.index;
    e["start_frame"] = s.start_frame;
    e["end_frame"] = s.end_frame;
    e["start_time"] = r6(s.start_time);
    e["end_time"] = r6(s.end_time);
    e["start_timecode"] = video::timecode(s.start_time);
    e["end_timecode"] = video::timecode(s.end_time);
    e["score"] = s.start_frame == 0 ? json(nullptr) : json(r6(s.score));
    e["detector"] = s.detector.empty() ? json(nullptr) : json(s.detector);
    json frames = json::array();
    for (const auto* f : by_scene[static_cast<size_t>(s.index)]) {
      json fr = {{"frame", f->pick.frame}, {"time", r6(f->pick.time)}, {"timecode", video::timecode(f->pick.time)},
                 {"reason", f->pick.reason}, {"width", f->width}, {"height", f->height}};
      put_path(fr, f->path.string());
      size_t idx = static_cast<size_t>(f - saved.data());
      if (file_id_of[idx]) fr["file_id"] = file_id_of[idx];
      frames.push_back(fr);
    }
    if (!frames.empty()) put_path(e, get_path(frames[0]), "frame_file");
    else e["frame_file"] = nullptr;
    e["frames"] = frames;
    if (cat && job.task_id) {
      e["task_id"] = job.task_id;
      e["segment_id"] = fin.segment_ids.at(static_cast<size_t>(s.index));
    }
    emit(e);
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  json v = {{"event", "video"}};
  put_path(v, job.path);
  const auto& info = a.info;
  v["frame_count"] = a.frames;
  v["declared_frame_count"] = info.declared_frames;
  v["fps"] = r6(info.fps);
  v["duration"] = r6(a.end_time);
  v["width"] = info.display_width();
  v["height"] = info.display_height();
  v["rotation"] = info.rotation;
  v["codec"] = info.codec;
  v["scene_count"] = a.scenes.size();
  json cuts = json::array(), cut_times = json::array();
  for (int64_t c : a.cuts) {
    cuts.push_back(c);
    cut_times.push_back(r6(a.times[static_cast<size_t>(c)]));
  }
  v["cuts"] = cuts;
  v["cut_times"] = cut_times;
  v["saved_frame_count"] = saved.size();
  v["out_dir"] = util::utf8_lossy(dir.string());
  if (!a.warning.empty()) v["warning"] = a.warning;
  if (cat && job.task_id) {
    v["task_id"] = job.task_id;
    v["file_id"] = job.file_id;
    if (fin.replaced.tasks) v["replaced_task_count"] = fin.replaced.tasks;
  }
  v["seconds"] = r6(secs);
  v["frames_per_second"] = secs > 0 ? std::round(a.frames / secs * 10) / 10 : 0.0;
  emit(v);
  spdlog::info("{}: {} frames, {} scenes, {} frames saved in {:.2f} s ({:.0f} fps)", util::printable(job.path),
               a.frames, a.scenes.size(), saved.size(), secs, secs > 0 ? a.frames / secs : 0.0);
  return {};
}

}  // namespace

int scenes_main(int argc, char** argv) {
  CLI::App app{"facecat-scenes: split videos into scenes and save one good frame per scene.\n"
               "Prints one JSON record per scene on stdout (then a 'video' summary; 'error' for a video that "
               "failed). With a catalog, the video gets a task, its scenes become segments and the frames are "
               "registered as images for facecat-detect."};
  app.set_version_flag("--version", FACECAT_VERSION);
  CommonOptions common;
  add_common_options(app, common);
  std::vector<std::string> videos;
  std::string out, detector, decode_only;
  double threshold = -1, adaptive_threshold = -1, fade_threshold = -1;
  int min_scene_len = -1, frames_per_scene = -1, threads = -1, jpeg_quality = -1;
  bool csv = false, edl = false, stats = false, no_frames = false, no_catalog = false;
  app.add_option("VIDEO", videos, "video files")->required();
  app.add_option("-o,--out", out, "folder for the frames (one sub-folder per video) " + env_help("video.frames_dir"));
  app.add_option("-d,--detector", detector,
                 "content, adaptive, threshold, or a comma-separated combination " + env_help("video.detector"));
  app.add_option("-t,--threshold", threshold, "content detector threshold " + env_help("video.threshold"));
  app.add_option("--min-scene-len", min_scene_len,
                 "minimum scene length in frames; closer cuts are merged " + env_help("video.min_scene_len"));
  app.add_option("--adaptive-threshold", adaptive_threshold,
                 "adaptive detector ratio " + env_help("video.adaptive_threshold"));
  app.add_option("--fade-threshold", fade_threshold,
                 "threshold detector: black below this mean intensity " + env_help("video.fade_threshold"));
  app.add_option("-n,--frames-per-scene", frames_per_scene,
                 "frames saved per scene " + env_help("video.frames_per_scene"));
  app.add_option("--jpeg-quality", jpeg_quality, "JPEG quality " + env_help("video.jpeg_quality"));
  app.add_option("-j,--threads", threads, "decoder threads " + env_help("video.threads"));
  app.add_flag("--csv", csv, "also write <stem>-Scenes.csv (PySceneDetect list-scenes columns) into the video's folder");
  app.add_flag("--edl", edl, "also write <stem>.edl (CMX 3600) into the video's folder");
  app.add_flag("--stats", stats, "also write <stem>.stats.csv: per-frame content score, brightness, sharpness");
  app.add_flag("--no-frames", no_frames, "detect scenes only; save no frames");
  app.add_flag("--no-catalog", no_catalog, "do not record anything in the catalog even if one is configured");
  app.add_option("--decode-only", decode_only, "benchmark baseline: only decode (opencv-grab, opencv-read, ffmpeg)")
      ->group("");
  if (!parse_command_line(app, argc, argv)) return exit_code::ok;
  std::map<std::string, std::string> flags;
  auto num = [](double v) {
    std::ostringstream o;
    o.imbue(std::locale::classic());
    o << v;
    return o.str();
  };
  if (!out.empty()) flags["video.frames_dir"] = out;
  if (!detector.empty()) flags["video.detector"] = detector;
  if (threshold >= 0) flags["video.threshold"] = num(threshold);
  if (min_scene_len >= 0) flags["video.min_scene_len"] = std::to_string(min_scene_len);
  if (adaptive_threshold >= 0) flags["video.adaptive_threshold"] = num(adaptive_threshold);
  if (fade_threshold >= 0) flags["video.fade_threshold"] = num(fade_threshold);
  if (frames_per_scene >= 0) flags["video.frames_per_scene"] = std::to_string(frames_per_scene);
  if (jpeg_quality >= 0) flags["video.jpeg_quality"] = std::to_string(jpeg_quality);
  if (threads >= 0) flags["video.threads"] = std::to_string(threads);
  Config cfg;
  if (!setup_tool("facecat-scenes", common, flags, cfg)) return exit_code::ok;
  // The per-frame analysis works on ~256 px images: OpenCV's thread pool would only add wake-ups next to the
  // decoder's own threads, which already use every core.
  cv::setNumThreads(1);

  RunSettings rs;
  auto& o = rs.opts;
  o.detectors = value_or_throw(video::parse_detectors(cfg.get("video.detector")));
  o.content.threshold = cfg.get_double("video.threshold");
  o.content.min_scene_len = cfg.get_int("video.min_scene_len");
  o.adaptive.adaptive_threshold = cfg.get_double("video.adaptive_threshold");
  o.adaptive.min_scene_len = o.content.min_scene_len;
  o.threshold.threshold = cfg.get_double("video.fade_threshold");
  o.threshold.min_scene_len = o.content.min_scene_len;
  o.frames_per_scene = static_cast<int>(cfg.get_int("video.frames_per_scene"));
  o.jpeg_quality = static_cast<int>(cfg.get_int("video.jpeg_quality"));
  o.threads = static_cast<int>(cfg.get_int("video.threads"));
  const int64_t frame_memory_mb = cfg.get_int("video.frame_memory_mb");
  if (frame_memory_mb < 0) throw Fatal("video.frame_memory_mb must not be negative", exit_code::usage);
  o.frame_memory = static_cast<size_t>(frame_memory_mb) << 20;
  if (o.frames_per_scene < 1 || o.frames_per_scene > 100)
    throw Fatal("--frames-per-scene must be between 1 and 100", exit_code::usage);
  if (o.content.min_scene_len < 0) throw Fatal("--min-scene-len must not be negative", exit_code::usage);
  if (o.jpeg_quality < 1 || o.jpeg_quality > 100) throw Fatal("--jpeg-quality must be 1..100", exit_code::usage);
  rs.params = o.params().dump();
  rs.out = fs::absolute(cfg.get_path("video.frames_dir")).lexically_normal();
  rs.csv = csv;
  rs.edl = edl;
  rs.stats = stats;
  rs.frames = !no_frames;
  o.keep_frames = rs.frames && o.frame_memory > 0;
  // Frames go only into a folder that is facecat's (a marker; ARCHITECTURE.md, "What facecat deletes").
  if (rs.frames && decode_only.empty())
    value_or_throw(claim_output_dir(rs.out, OwnedDirKind::Frames, "--out (video.frames_dir)"));
  if (o.keep_frames) {
    // The frames' folder also takes the spill file of a long video's ready JPEGs (an unnamed temp file).
    std::error_code ec;
    if (fs::is_directory(rs.out, ec)) o.spill_dir = rs.out;
    o.jpeg_memory = o.frame_memory / 8;
  }
  rs.progress = fancy_stderr() && !common.quiet;

  std::vector<Job> jobs;
  for (const auto& v : videos) {
    Job j;
    j.path = fs::absolute(v).lexically_normal().string();
    j.error = not_a_video(j.path);
    jobs.push_back(std::move(j));
  }

  if (!decode_only.empty()) {
    int failed = 0;
    for (const auto& j : jobs) {
      if (!j.error.empty()) {
        report_error(j.path, j.error);
        ++failed;
        continue;
      }
      auto r = video::decode_only(j.path, decode_only, o.threads);
      if (!r) {
        if (r.error().code == exit_code::usage) throw Fatal(r.error());
        report_error(j.path, r.error().message);
        ++failed;
        continue;
      }
      json e = {{"event", "decode"}, {"mode", decode_only}, {"frame_count", r->frames}, {"seconds", r6(r->seconds)}};
      put_path(e, j.path);
      e["frames_per_second"] = r->seconds > 0 ? std::round(r->frames / r->seconds * 10) / 10 : 0.0;
      emit(e);
    }
    return failed ? exit_code::some_failed : exit_code::ok;
  }

  // The catalog is used when one is named (--catalog, FACECAT_CATALOG or config.ini), not by default.
  std::optional<catalog::Catalog> cat;
  if (!no_catalog && cfg.origin("catalog.path") != "default") {
    cat.emplace(open_catalog(cfg, catalog::Mode::Write));
    catalog::Transaction tx(cat->db());
    for (auto& j : jobs) {
      if (!j.error.empty()) continue;
      auto f = video::ensure_video_file(cat->db(), j.path);
      if (!f) {
        j.error = f.error().message;
        continue;
      }
      j.file_id = f->id;
      j.task_id = video::create_task(cat->db(), j.file_id, rs.params);
    }
    tx.commit();
  }

  int failed = 0;
  size_t next = 0;
  try {
    for (; next < jobs.size(); ++next) {
      throw_if_interrupted();
      const auto& j = jobs[next];
      if (!j.error.empty()) {
        report_error(j.path, j.error);
        ++failed;
        continue;
      }
      Result<void> r = make_error("not run");
      try {
        r = process(j, rs, cat ? &*cat : nullptr);
      } catch (const Interrupted&) {
        throw;
      } catch (const BrokenPipe&) {
        throw;
      } catch (const cv::Exception& e) {
        r = make_error(std::string("OpenCV: ") + e.what());
      }
      if (!r) {
        if (cat && j.task_id) video::fail_task(cat->db(), j.task_id, r.error().message);
        report_error(j.path, r.error().message, j.task_id);
        ++failed;
      }
    }
  } catch (...) {
    // Interrupted (or stdout gone): the running task and those not started are marked failed.
    if (cat) {
      for (size_t i = next; i < jobs.size(); ++i)
        if (jobs[i].task_id) {
          try {
            video::fail_task(cat->db(), jobs[i].task_id, i == next ? "interrupted" : "interrupted before it started");
          } catch (...) {
          }
        }
    }
    throw;
  }
  return failed ? exit_code::some_failed : exit_code::ok;
}

}  // namespace facecat::tools
