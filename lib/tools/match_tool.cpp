#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <iostream>

#include "catalog/catalog.hpp"
#include "core/exit_codes.hpp"
#include "core/format.hpp"
#include "core/output.hpp"
#include "core/signals.hpp"
#include "core/tool.hpp"
#include "face/analyzer.hpp"
#include "match/match.hpp"
#include "vk/social.hpp"
#include "search/faces.hpp"
#include "tools/common.hpp"
#include "tools/face_config.hpp"
#include "tools/match_tool.hpp"
#include "util/text.hpp"

namespace facecat::tools {

namespace fs = std::filesystem;

namespace {

bool is_image_name(const fs::path& p) {
  static const char* exts[] = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".heic", ".heif"};
  auto e = util::to_lower(p.extension().string());
  return std::any_of(std::begin(exts), std::end(exts), [&](const char* x) { return e == x; });
}

// Files given, and the images directly inside folders given (face_recognition's image_files_in_folder), sorted.
std::vector<fs::path> expand(const std::vector<std::string>& args) {
  std::vector<fs::path> out;
  for (auto& a : args) {
    std::error_code ec;
    if (fs::is_directory(a, ec)) {
      std::vector<fs::path> in;
      for (auto& e : fs::directory_iterator(a, ec))
        if (e.is_regular_file(ec) && is_image_name(e.path())) in.push_back(e.path());
      std::sort(in.begin(), in.end());
      out.insert(out.end(), in.begin(), in.end());
    } else {
      out.emplace_back(a);
    }
  }
  return out;
}

// face_recognition prints Python floats: 0.0, 0.4512...
std::string py_float(double d) {
  auto s = fmt::format("{}", d);
  if (s.find_first_of(".eni") == std::string::npos) s += ".0";
  return s;
}

std::string fmt_box(const face::Box& b) {
  return fmt::format("[{},{},{},{}]", b.left, b.top, b.width(), b.height());
}

}  // namespace

int match_main(int argc, char** argv) {
  CLI::App app{"facecat-match: who is in these photos? Describes every face in each TARGET and compares it with the\n"
               "catalog: per face the nearest people (best distance, faces within tolerance, confidence) and the\n"
               "nearest faces that belong to nobody. JSONL on stdout; a table when stdout is a terminal.\n"
               "Known-folder mode (face_recognition's CLI): facecat-match --known DIR UNKNOWN... [--format csv]"};
  app.set_version_flag("--version", FACECAT_VERSION);
  CommonOptions common;
  add_common_options(app, common);
  std::vector<std::string> targets;
  std::string known, format, model, vk_user;
  double tolerance = -1;
  int top = -1, min_face = -1, upsample = -1, jitter = -1;
  bool show_distance = false, chip = false, crop = false;
  app.add_option("TARGET", targets, "photos (or folders of photos) to identify")->required();
  app.add_option("--known", known, "folder of known people: one image per person named after the person, or one "
                                   "subfolder per person; no catalog is used");
  app.add_option("--tolerance", tolerance, "a person matches when their nearest face is at most this far " +
                                               env_help("faces.tolerance"));
  app.add_option("--top", top, "people and unassigned faces shown per target face " + env_help("search.top"));
  app.add_flag("--show-distance", show_distance, "csv/table: print the distance too");
  app.add_flag("--chip", chip, "the images are already aligned face chips (150×150, like dlib's): no detection");
  app.add_flag("--crop", crop, "the images are tight crops around one face: padded before detection");
  app.add_option("--min-face", min_face, "smallest face to find in the targets, px " + env_help("faces.min_face"));
  app.add_option("--upsample", upsample, "HOG upsampling " + env_help("faces.upsample"));
  app.add_option("--jitter", jitter, "catalog mode: describe each target face as the mean over N jittered chips " +
                                         env_help("faces.match_jitter"));
  app.add_option("--model", model, "catalog descriptor model (default: the targets' model)");
  app.add_option("--vk-user", vk_user, "only consider the people a VK module links to this user (friends), showing "
                                       "mutual friends");
  if (!parse_command_line(app, argc, argv)) return exit_code::ok;
  std::map<std::string, std::string> flags;
  if (tolerance >= 0) flags["faces.tolerance"] = std::to_string(tolerance);
  if (top >= 0) flags["search.top"] = std::to_string(top);
  if (min_face >= 0) flags["faces.min_face"] = std::to_string(min_face);
  if (upsample >= 0) flags["faces.upsample"] = std::to_string(upsample);
  if (jitter >= 0) flags["faces.match_jitter"] = std::to_string(jitter);
  Config cfg;
  if (!setup_tool("facecat-match", common, flags, cfg)) return exit_code::ok;
  // --format (common): csv is face_recognition's path,name[,distance]; table and csv are printed here, so
  // emit() stays JSON Lines and is used only for --format jsonl.
  format = common.format.empty() ? (stdout_is_tty() ? "table" : "jsonl") : common.format;
  set_output_format(OutputFormat::jsonl);

  match::Options mo;
  mo.tolerance = cfg.get_double("faces.tolerance");
  mo.top = static_cast<int>(std::max<int64_t>(1, cfg.get_int("search.top")));
  face::DetectParams dp = detect_params(cfg);
  face::AnalyzerConfig ac = analyzer_config(cfg);
  auto analyzer = value_or_throw(face::FaceAnalyzer::create(ac));
  const std::string model_id = analyzer.model_id();
  int failures = 0;

  // known-folder mode keeps face_recognition's plain descriptors (its CLI's num_jitters is 1)
  const int target_jitter = known.empty() ? static_cast<int>(std::clamp<int64_t>(cfg.get_int("faces.match_jitter"), 1, 100)) : 1;
  auto describe = [&](const fs::path& p) -> std::optional<match::TargetImage> {
    auto r = match::describe_image(analyzer, p, dp, chip ? match::TargetMode::Chip : crop ? match::TargetMode::Crop : match::TargetMode::Photo,
                                   target_jitter);
    if (!r) {
      spdlog::error("{}", r.error().message);
      ++failures;
      if (format == "jsonl") {
        json e{{"event", "error"}};
        put_path(e, p.string());
        e["reason"] = r.error().message;
        emit(e);
      }
      return std::nullopt;
    }
    return std::move(r).value();
  };

  // ---- known-folder mode -----------------------------------------------------------------------------------
  if (!known.empty()) {
    std::error_code ec;
    if (!fs::is_directory(known, ec)) throw Fatal("--known " + known + " is not a folder", exit_code::usage);
    std::vector<std::pair<std::string, fs::path>> known_files;  // (name, file)
    std::vector<fs::path> subdirs;
    for (auto& e : fs::directory_iterator(known, ec))
      if (e.is_directory(ec)) subdirs.push_back(e.path());
    std::sort(subdirs.begin(), subdirs.end());
    if (!subdirs.empty()) {
      for (auto& d : subdirs)
        for (auto& f : expand({d.string()})) known_files.emplace_back(d.filename().string(), f);
    } else {
      for (auto& f : expand({known})) known_files.emplace_back(f.stem().string(), f);
    }
    search::Matrix km(model_id);
    std::vector<std::string> names;
    for (auto& [nm, f] : known_files) {
      throw_if_interrupted();
      auto t = describe(f);
      if (!t) continue;
      if (t->faces.empty()) {
        spdlog::warn("No faces found in {}. Ignoring file.", f.string());
        continue;
      }
      if (t->faces.size() > 1) spdlog::warn("More than one face found in {}. Only considering the first face.", f.string());
      km.add(static_cast<int64_t>(names.size()), t->faces[0].descriptor.data());
      names.push_back(nm);
    }
    search::ExactIndex kidx(km);
    for (auto& p : expand(targets)) {
      throw_if_interrupted();
      auto t = describe(p);
      if (!t) continue;
      const std::string ps = p.string();
      if (t->faces.empty()) {
        if (format == "jsonl") {
          json r{{"event", "file"}};
          put_path(r, ps);
          r["face_count"] = 0;
          r["name"] = "no_persons_found";
          emit(r);
        }
        else std::printf("%s,no_persons_found\n", ps.c_str());
        continue;
      }
      for (size_t i = 0; i < t->faces.size(); ++i) {
        // every known face within tolerance, in the known files' order (face_recognition prints them all)
        auto nn = kidx.knn(t->faces[i].descriptor.data(), static_cast<int>(km.size()), static_cast<float>(mo.tolerance));
        std::sort(nn.begin(), nn.end(), [](auto& a, auto& b) { return a.id < b.id; });
        if (format == "jsonl") {
          json matches = json::array();
          for (auto& n : nn) matches.push_back({{"name", names[static_cast<size_t>(n.id)]}, {"distance", n.distance}});
          json r{{"event", "match"}};
          put_path(r, ps);
          r["face_index"] = i;
          r["box"] = {t->faces[i].box.left, t->faces[i].box.top, t->faces[i].box.width(), t->faces[i].box.height()};
          r["name"] = nn.empty() ? "unknown_person" : names[static_cast<size_t>(
                                                           std::min_element(nn.begin(), nn.end(), [](auto& a, auto& b) {
                                                             return a.distance < b.distance;
                                                           })->id)];
          r["matches"] = matches;
          emit(r);
        } else if (nn.empty()) {
          std::printf(show_distance ? "%s,unknown_person,None\n" : "%s,unknown_person\n", ps.c_str());
        } else {
          for (auto& n : nn) {
            if (show_distance)
              std::printf("%s,%s,%s\n", ps.c_str(), names[static_cast<size_t>(n.id)].c_str(), py_float(n.distance).c_str());
            else
              std::printf("%s,%s\n", ps.c_str(), names[static_cast<size_t>(n.id)].c_str());
          }
        }
        std::fflush(stdout);
      }
    }
    return failures ? exit_code::some_failed : exit_code::ok;
  }

  // ---- catalog mode ------------------------------------------------------------------------------------------
  auto cat = open_catalog(cfg, catalog::Mode::Read);
  auto use_model = value_or_throw(search::pick_model(cat.db(), model.empty() ? model_id : model));
  if (use_model != model_id)
    throw Fatal(fmt::format("the targets are described with model {} but --model asks for {}; descriptors of "
                            "different models are never compared",
                            model_id, use_model),
                exit_code::usage);
  auto faces = value_or_throw(search::load_faces(cat.db(), model_id));
  search::EngineOptions eo;
  eo.faiss_min = static_cast<size_t>(std::max<int64_t>(0, cfg.get_int("search.faiss_min")));
  eo.nprobe = static_cast<int>(cfg.get_int("search.nprobe"));
  eo.index_dir = cat.path().parent_path();
  eo.index_stem = cat.path().filename().string();
  auto index = value_or_throw(search::make_index(faces.matrix, eo));
  spdlog::debug("{} catalog faces of model {} ({} index)", faces.matrix.size(), model_id, index->kind());
  match::Matcher matcher(cat.db(), faces, *index);
  std::optional<match::CandidateFilter> filter;
  if (!vk_user.empty()) {
    // The VK module supplies the candidates: the user's friends and friends of friends from the catalog's
    // friendship edges (facecat-vk fetch), with how many friends each shares with the user.
    if (!match::candidate_provider())
      match::set_candidate_provider([](catalog::Db& db, const std::string& id) -> Result<match::CandidateFilter> {
        auto c = vk::social_candidates(db, id);
        if (!c) return c.error();
        match::CandidateFilter f;
        for (const auto& p : *c) {
          f.people.insert(p.person_id);
          f.mutual_friends[p.person_id] = p.mutual_friends;
        }
        f.description = "friends and friends of friends of VK user " + id + " (" + std::to_string(f.people.size()) +
                        " people)";
        return f;
      });
    const auto& prov = match::candidate_provider();
    if (!prov) throw Fatal("--vk-user needs the VK module, which this build does not have", exit_code::usage);
    filter = value_or_throw(prov(cat.db(), vk_user));
    spdlog::info("candidates: {}", filter->description);
  }
  for (auto& p : expand(targets)) {
    throw_if_interrupted();
    auto t = describe(p);
    if (!t) continue;
    if (t->faces.empty()) {
      json r{{"event", "file"}};
      put_path(r, p.string());
      r["face_count"] = 0;
      if (format == "jsonl") emit(r);
      else if (format == "csv") std::printf("%s,no_persons_found\n", p.string().c_str());
      else std::printf("%s: no faces\n", p.string().c_str());
      continue;
    }
    std::vector<match::FaceResult> results;
    for (auto& tf : t->faces) results.push_back(matcher.match(tf.descriptor.data(), mo, filter ? &*filter : nullptr));
    match::one_person_per_face(results);  // cannot-link: one person is at most one face of this photo
    for (size_t i = 0; i < t->faces.size(); ++i) {
      auto& tf = t->faces[i];
      auto& res = results[i];
      const match::PersonHit* best = match::best_match(res);
      if (format == "jsonl") {
        json r{{"event", "match"}};
        put_path(r, p.string());
        r["face_index"] = i;
        r["box"] = {tf.box.left, tf.box.top, tf.box.width(), tf.box.height()};
        r["model"] = model_id;
        r["tolerance"] = mo.tolerance;
        json people = json::array(), fl = json::array();
        for (auto& h : res.people) people.push_back(match::to_json(h));
        for (auto& h : res.faces) fl.push_back(match::to_json(h));
        r["match"] = best ? match::to_json(*best) : json(nullptr);
        r["people"] = people;
        r["faces"] = fl;
        emit(r);
      } else if (format == "csv") {
        std::string nm = best ? (best->name ? *best->name : "p" + std::to_string(best->person)) : "unknown_person";
        if (show_distance)
          std::printf("%s,%s,%s\n", p.string().c_str(), nm.c_str(), best ? py_float(best->distance).c_str() : "None");
        else
          std::printf("%s,%s\n", p.string().c_str(), nm.c_str());
      } else {
        std::printf("%s  face %zu %s\n", p.string().c_str(), i, fmt_box(tf.box).c_str());
        if (res.people.empty()) std::printf("    (no person within %.2f)\n", mo.tolerance + 0.25);
        for (auto& h : res.people) {
          std::string nm = h.name ? *h.name : "(unnamed p" + std::to_string(h.person) + ")";
          std::printf("    %s %-28s distance %.3f  faces %-3d confidence %.2f%s\n", h.match ? "=>" : "  ",
                      nm.c_str(), h.distance, h.within, h.confidence,
                      h.mutual_friends ? fmt::format("  mutual friends {}", *h.mutual_friends).c_str() : "");
        }
        for (auto& h : res.faces)
          std::printf("       unassigned face f%lld  distance %.3f  %s\n", static_cast<long long>(h.face), h.distance,
                      util::utf8_lossy(h.file).c_str());
        if (!best) std::printf("    => unknown (nobody within tolerance %.2f)\n", mo.tolerance);
      }
      std::fflush(stdout);
    }
  }
  return failures ? exit_code::some_failed : exit_code::ok;
}

}  // namespace facecat::tools
