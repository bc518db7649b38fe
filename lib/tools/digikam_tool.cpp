#include "tools/digikam_tool.hpp"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <set>

#include "core/exit_codes.hpp"
#include "core/output.hpp"
#include "core/signals.hpp"
#include "core/tool.hpp"
#include <cmath>

#include "digikam/csv.hpp"
#include "digikam/import.hpp"
#include "face/region.hpp"
#include "faces_store/store.hpp"
#include "tools/face_config.hpp"
#include "digikam/digikam_db.hpp"
#include "digikam/photo_xmp.hpp"
#include "digikam/selection.hpp"
#include "digikam/xmp.hpp"
#include "tools/common.hpp"
#include "util/atomic_file.hpp"
#include "util/text.hpp"

namespace facecat::tools {
namespace {

using namespace facecat::digikam;

struct Flags {
  bool include_suggested = false;
  bool include_unknown = false;
  bool compat_names = false;
  std::string people_tag = "People";
  std::string digikam_db;
  std::vector<std::string> root_map;
  std::vector<std::string> volumes;
  bool dry_run = false;
  std::string output;
  std::vector<std::string> xmp_folders;
  std::string prefer;
};

void report_error(const std::string& path, const std::string& reason, int& errors) {
  ++errors;
  spdlog::error("{}: {}", util::printable(path), reason);
  json e = {{"event", "error"}};
  put_path(e, path);
  e["reason"] = reason;
  emit(e);
}

// Sidecar temp files (".<name>.xmp.tmp.<16 hex>", AtomicFile's pattern) that a killed run left in a folder:
// removed once per folder, when they are older than this run (a run going on beside this one is not touched).
void remove_stale_sidecar_temps(const std::filesystem::path& dir, std::set<std::string>& done,
                                std::filesystem::file_time_type started) {
  if (!done.insert(dir.string()).second) return;
  const int removed = util::remove_atomic_temps(
      dir.empty() ? "." : dir, [](std::string_view t) { return t.size() >= 4 && t.substr(t.size() - 4) == ".xmp"; },
      started);
  if (removed)
    spdlog::info("{}: removed {} sidecar temp files left by an interrupted run", util::printable(dir.string()),
                 removed);
}

int run_xmp(const Flags& fl, std::vector<ExportImage>& images, int errors) {
  std::set<std::string> written, cleaned;
  int created = 0, updated = 0, unchanged = 0;
  const auto started = std::filesystem::file_time_type::clock::now();
  for (const auto& img : images) {
    throw_if_interrupted();
    std::string side = sidecar_path(img.path, fl.compat_names);
    std::error_code ec;
    remove_stale_sidecar_temps(std::filesystem::path(side).parent_path(), cleaned, started);
    if (!std::filesystem::exists(img.path, ec)) {
      if (!img.faces.empty()) report_error(img.path, "the image is gone (run facecat-scan to update the catalog)", errors);
      continue;
    }
    bool has_existing = std::filesystem::exists(side, ec);
    if (!has_existing && img.faces.empty()) continue;  // nothing to write and nothing to clean
    if (!written.insert(side).second) {
      report_error(img.path, "another image already uses the sidecar " + util::utf8_lossy(side) +
                                 " (two images differ only in their extension; drop --compat-names)",
                   errors);
      continue;
    }
    std::string other = sidecar_path(img.path, !fl.compat_names);
    if (other != side && std::filesystem::exists(other, ec))
      spdlog::warn("{}: {} exists too; digiKam reads only one of them ({})", util::printable(side),
                   util::printable(other), fl.compat_names ? "drop --compat-names?" : "pass --compat-names?");

    XmpContent c;
    c.stored = img.stored;
    c.orientation = img.orientation;
    c.people_tag = fl.people_tag;
    for (const auto& f : img.faces) {
      XmpRegion r;
      if (!f.name.empty()) r.name = f.name;
      r.stored = display_to_stored(f.display, img.stored, img.orientation);
      c.regions.push_back(r);
    }
    c.people = names_of(img);

    std::optional<std::string> existing;
    // A new sidecar is as readable as its photo (it sits beside it, for digiKam), whatever privacy.mode says; an
    // existing one keeps its permissions.
    int mode = 0644;
    bool exact_mode = false;
    if (struct stat pst {}; !has_existing && ::stat(img.path.c_str(), &pst) == 0) {
      mode = static_cast<int>(pst.st_mode & 0666);
      exact_mode = true;
    }
    if (has_existing) {
      auto t = util::read_file(side, 64u << 20);
      if (!t) {
        report_error(side, "cannot read the existing sidecar: " + t.error().message, errors);
        continue;
      }
      existing = std::move(t).value();
      struct stat st {};
      if (::stat(side.c_str(), &st) == 0) mode = static_cast<int>(st.st_mode & 07777);
    }
    // A new sidecar (or one only facecat ever wrote, without the photo's metadata) starts from what the photo
    // holds, so that digiKam reading sidecars still sees the photo's captions, copyright and labels.
    std::optional<std::string> base;
    json photo_meta = nullptr;
    if (!existing || written_only_by_facecat(*existing)) {
      auto px = photo_metadata_xmp(img.path);
      if (!px) {
        spdlog::warn("{}: {}; the sidecar holds facecat's regions and tags only", util::printable(img.path),
                     px.error().message);
        photo_meta = false;
      } else {
        photo_meta = px->fields;
        if (!px->packet.empty()) base = std::move(px->packet);
      }
    }
    const std::string* start = base ? &*base : existing && !photo_meta.is_number() ? &*existing : nullptr;
    auto merged = merge_sidecar(start, c);
    if (!merged) {
      report_error(side, merged.error().message, errors);
      continue;
    }
    for (const auto& w : merged->warnings) spdlog::warn("{}: {}", util::printable(side), w);
    std::string status;
    if (existing && *existing == merged->xml) {
      status = "unchanged";
      ++unchanged;
    } else {
      auto w = util::write_file_atomic(side, merged->xml, mode);
      if (!w) {
        report_error(side, w.error().message, errors);
        continue;
      }
      if (exact_mode) (void)::chmod(side.c_str(), static_cast<mode_t>(mode));
      status = existing ? "updated" : "created";
      ++(existing ? updated : created);
    }
    json e = {{"event", "xmp"}, {"status", status}};
    put_path(e, img.path);
    put_path(e, side, "sidecar");
    e["face_count"] = img.faces.size();
    e["names"] = c.people;
    e["foreign_region_count"] = merged->foreign_regions;
    if (!photo_meta.is_null()) e["photo_metadata"] = photo_meta;
    emit(e);
  }
  spdlog::info("sidecars: {} created, {} updated, {} unchanged, {} errors", created, updated, unchanged, errors);
  return errors ? exit_code::some_failed : exit_code::ok;
}

// Named faces that only clustering put there (suggested) are not exported: say how many, whose, and how to include
// them, as one warning line and (unless stdout carries the CSV) one warning record after the export's own.
void warn_skipped_suggested(const SkippedSuggested& sk, bool flag_exists, bool record) {
  if (sk.faces == 0) return;
  std::string whose;
  json people = json::array();
  for (size_t i = 0; i < sk.people.size(); ++i) {
    const auto& p = sk.people[i];
    people.push_back(json{{"person_id", p.person_id}, {"name", p.name}, {"face_count", p.faces}});
    if (i < 3) whose += (i ? ", " : "") + p.name + " (p" + std::to_string(p.person_id) + ") " + std::to_string(p.faces);
  }
  if (sk.people.size() > 3) whose += ", " + std::to_string(sk.people.size() - 3) + " more";
  const auto& top = sk.people.front();
  std::string reason = std::to_string(sk.faces) + " named face" + (sk.faces == 1 ? " was" : "s were") +
                       " not exported because they are only suggested, not confirmed: " + whose +
                       "; 'facecat-people confirm p" + std::to_string(top.person_id) +
                       "' confirms a person's faces" + (flag_exists ? ", or add --include-suggested" : "");
  spdlog::warn("{}", reason);
  if (!record) return;
  emit(json{{"event", "warning"},
            {"reason", reason},
            {"skipped_face_count", sk.faces},
            {"people", people}});
}

// --root-map and --volume into DbOptions (usage errors for bad ones).
void add_paths(DbOptions& o, const Flags& fl) {
  for (const auto& m : fl.root_map) o.root_map.push_back(value_or_throw(parse_root_map(m)));
  for (const auto& v : fl.volumes) {
    auto eq = v.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == v.size())
      throw Fatal("--volume expects UUID=MOUNTPOINT, got '" + v + "'", exit_code::usage);
    o.volumes[v.substr(0, eq)] = v.substr(eq + 1);
  }
}

int run_db(const Flags& fl, std::vector<ExportImage>& images, int errors, bool remove = false) {
  DbOptions o;
  o.db_path = fl.digikam_db;
  o.dry_run = fl.dry_run;
  o.remove = remove;
  add_paths(o, fl);
  auto sum = value_or_throw(write_digikam_db(images, o, [](const json& e) { emit(e); }));
  json e = {{"event", "db-summary"},
            {"image_count", sum.images_matched},
            {"not_in_digikam_count", sum.images_missing},
            {"added_face_count", sum.faces_added},
            {"present_face_count", sum.faces_present},
            {"conflict_count", sum.faces_conflict},
            {"created_tag_count", sum.tags_created}};
  if (remove) e["removed_face_count"] = sum.faces_removed;
  if (!sum.backup.empty()) put_path(e, sum.backup, "backup");
  if (fl.dry_run) e["dry_run"] = true;
  emit(e);
  spdlog::info("digiKam database: {} images, {} faces added, {} already there, {} conflicts, {} tags created{}",
               sum.images_matched, sum.faces_added, sum.faces_present, sum.faces_conflict, sum.tags_created,
               sum.backup.empty() ? std::string() : "; backup " + sum.backup);
  if (sum.images_matched == 0 && sum.images_missing > 0) {
    spdlog::error("none of the {} photos with confirmed faces is in digiKam's database; do the paths differ "
                  "(--root-map CATALOG_PREFIX=DIGIKAM_PREFIX), or has digiKam not scanned them yet?",
                  sum.images_missing);
    return exit_code::some_failed;
  }
  return errors ? exit_code::some_failed : exit_code::ok;
}

int run_csv(const Flags& fl, std::vector<ExportImage>& images, int errors) {
  size_t rows = 0;
  std::string text = faces_csv(images, &rows);
  if (fl.output == "-") {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
  } else {
    value_or_throw(util::write_file_atomic(fl.output, text));
    json e = {{"event", "csv"}, {"row_count", rows}};
    put_path(e, fl.output);
    emit(e);
  }
  spdlog::info("{} faces written to {}", rows, fl.output == "-" ? "stdout" : fl.output);
  return errors ? exit_code::some_failed : exit_code::ok;
}

// Landmarks and a descriptor for regions facecat had not found: the face engine, loaded on first use.
Describe region_describer(const Config& cfg) {
  auto holder = std::make_shared<std::optional<face::RegionDescriber>>();
  auto params = detect_params(cfg);
  return [holder, cfg, params](const std::string& path, const std::vector<Rect>& boxes) -> Result<std::vector<NewFace>> {
    if (!*holder) {
      spdlog::info("loading the face engine to describe regions facecat had not found");
      auto d = face::RegionDescriber::create(analyzer_config(cfg));
      if (!d) return d.error();
      holder->emplace(std::move(*d));
    }
    auto bytes = util::read_file(path, size_t(1) << 30);
    if (!bytes) return bytes.error();
    std::vector<face::Box> fb;
    for (const auto& b : boxes)
      fb.push_back({int(b.x), int(b.y), int(b.x + b.w), int(b.y + b.h)});
    auto faces = (*holder)->describe(*bytes, fb, params.max_pixels);
    if (!faces) return faces.error();
    std::vector<NewFace> out;
    for (const auto& f : *faces) {
      NewFace n;
      if (f.has_descriptor) {
        n.model_id = (*holder)->model_id();
        n.descriptor = faces_store::floats_to_blob(f.descriptor.data(), f.descriptor.size());
      }
      std::vector<float> v;
      for (const auto& p : f.landmarks) {
        v.push_back(p.x);
        v.push_back(p.y);
      }
      if (!v.empty()) n.landmarks = faces_store::floats_to_blob(v.data(), v.size());
      n.quality = {{"size", f.size},
                   {"blur", std::round(f.blur * 100.0) / 100.0},
                   {"frontal", std::round(f.frontalness * 10000.0) / 10000.0}};
      out.push_back(std::move(n));
    }
    return out;
  };
}

int run_import(const Flags& fl, const Config& cfg) {
  ImportOptions io;
  io.pipeline = cfg.get("faces.pipeline");
  io.dry_run = fl.dry_run;
  if (fl.prefer == "digikam") io.prefer = Prefer::Digikam;
  else if (fl.prefer == "facecat") io.prefer = Prefer::Facecat;
  else if (!fl.prefer.empty())
    throw Fatal("--prefer expects digikam or facecat, got '" + fl.prefer + "'", exit_code::usage);
  if (fl.digikam_db.empty() && fl.xmp_folders.empty())
    throw Fatal("say where the names are: --digikam-db digikam4.db and/or --xmp FOLDER", exit_code::usage);
  DbOptions o;
  o.db_path = fl.digikam_db;
  add_paths(o, fl);
  // Read the sources first (the digiKam database read-only), then take the writer lock on the catalog.
  std::vector<ImportImage> from_db, from_xmp;
  if (!fl.digikam_db.empty()) from_db = value_or_throw(read_digikam_db(o));
  int errors = 0;
  auto cat = open_catalog(cfg, fl.dry_run ? catalog::Mode::Read : catalog::Mode::Write);
  for (const auto& folder : fl.xmp_folders) {
    std::error_code ec;
    if (!std::filesystem::is_directory(folder, ec))
      throw Fatal("--xmp " + folder + ": not a folder", exit_code::usage);
    auto abs = std::filesystem::absolute(folder, ec).lexically_normal().string();
    for (const auto& ci : images_under(cat.db(), abs)) {
      throw_if_interrupted();
      std::string ref, xml;
      for (bool compat : {false, true}) {
        std::string side = sidecar_path(ci.path, compat);
        if (!std::filesystem::exists(side, ec)) continue;
        auto t = util::read_file(side, 64u << 20);
        if (!t) {
          report_error(side, "cannot read the sidecar: " + t.error().message, errors);
          break;
        }
        ref = side;
        xml = std::move(*t);
        break;
      }
      if (ref.empty()) {
        auto emb = embedded_xmp(ci.path);
        if (!emb) {
          spdlog::debug("{}: {}", util::printable(ci.path), emb.error().message);
          continue;
        }
        if (emb->empty()) continue;
        ref = ci.path;
        xml = std::move(*emb);
      }
      auto regions = regions_from_xmp(xml, ci.stored, ci.orientation);
      if (!regions) {
        report_error(ref, "cannot read its XMP regions: " + regions.error().message, errors);
        continue;
      }
      if (regions->empty()) continue;
      from_xmp.push_back({ci.path, ref, std::move(*regions)});
    }
  }
  auto describe = region_describer(cfg);
  ImportSummary total;
  for (auto* list : {&from_db, &from_xmp}) {
    if (list->empty()) continue;
    io.source = list == &from_db ? "digikam-db" : "xmp";
    auto sum = value_or_throw(apply_import(cat.db(), *list, io, describe, [](const json& e) { emit(e); }));
    json e = {{"event", "import-summary"}, {"source", io.source}, {"image_count", sum.images},
              {"skipped_count", sum.images_skipped}, {"region_count", sum.regions}, {"confirmed_count", sum.confirmed},
              {"present_count", sum.present}, {"created_count", sum.created}, {"unnamed_count", sum.unnamed},
              {"ignored_count", sum.ignored}, {"conflict_count", sum.conflicts}, {"overridden_count", sum.overridden},
              {"kept_count", sum.kept}, {"error_count", sum.errors}};
    if (fl.dry_run) e["dry_run"] = true;
    emit(e);
    spdlog::info("import from {}: {} images ({} skipped), {} regions: {} confirmed, {} already, {} faces added, "
                 "{} unnamed, {} ignored, {} conflicts, {} overridden, {} kept, {} errors",
                 io.source, sum.images, sum.images_skipped, sum.regions, sum.confirmed, sum.present, sum.created,
                 sum.unnamed, sum.ignored, sum.conflicts, sum.overridden, sum.kept, sum.errors);
    total.conflicts += sum.conflicts;
    total.errors += sum.errors;
    total.images_skipped += sum.images_skipped;
  }
  if (total.conflicts)
    spdlog::warn("{} conflicts were left as they are; run again with --prefer digikam or --prefer facecat",
                 total.conflicts);
  return errors || total.errors || total.conflicts ? exit_code::some_failed : exit_code::ok;
}

}  // namespace

int rewrite_sidecars(catalog::Db& db, const Config& cfg, const std::set<std::string>& hashes, bool compat_names) {
  SelectOptions so;
  so.pipeline = cfg.get("faces.pipeline");
  int errors = 0;
  auto images = select_faces(db, so, [&](const std::string& p, const std::string& why) { report_error(p, why, errors); });
  std::error_code ec;
  std::erase_if(images, [&](const ExportImage& i) {  // only sidecars that exist: none is created here
    return !hashes.count(i.hash) || !std::filesystem::exists(sidecar_path(i.path, compat_names), ec);
  });
  Flags fl;
  fl.compat_names = compat_names;
  run_xmp(fl, images, errors);
  return errors;
}

int remove_from_digikam_db(catalog::Db& db, const Config& cfg, const std::set<int64_t>& face_ids,
                           const std::string& digikam_db, const std::vector<std::string>& root_map) {
  SelectOptions so;
  so.pipeline = cfg.get("faces.pipeline");
  int errors = 0;
  auto images = select_faces(db, so, [&](const std::string& p, const std::string& why) { report_error(p, why, errors); });
  for (auto& i : images) std::erase_if(i.faces, [&](const ExportFace& f) { return !face_ids.count(f.face_id); });
  std::erase_if(images, [](const ExportImage& i) { return i.faces.empty(); });
  if (images.empty()) return 0;
  Flags fl;
  fl.digikam_db = digikam_db;
  fl.root_map = root_map;
  return run_db(fl, images, 0, true) == exit_code::ok ? 0 : 1;
}

int digikam_main(int argc, char** argv) {
  CLI::App app{"facecat-digikam: people and face regions between the catalog and digiKam.\n"
               "  xmp  write or merge sidecars (photo.jpg.xmp) that digiKam reads with Settings > Metadata > "
               "Sidecars > 'Read from sidecar files'\n"
               "  db   insert confirmed faces into digikam4.db directly (close digiKam first; a backup is made)\n"
               "  csv  path,name,x,y,width,height in display-frame pixels\n"
               "  import  names from digikam4.db and XMP regions into the catalog (confirmed faces)\n"
               "Prints one JSON event per file on stdout."};
  app.set_version_flag("--version", FACECAT_VERSION);
  app.require_subcommand(0, 1);
  CommonOptions common;
  add_common_options(app, common);
  Flags fl;
  std::string pipeline;
  app.add_option("--pipeline", pipeline, "the detect pipeline whose faces to export " + env_help("faces.pipeline"));

  auto* xmp = app.add_subcommand("xmp", "write or merge an XMP sidecar for every image with faces");
  xmp->add_flag("--compat-names", fl.compat_names, "name sidecars photo.xmp instead of photo.jpg.xmp");
  xmp->add_flag("--include-suggested", fl.include_suggested, "also name faces whose person is only suggested");
  xmp->add_flag("--include-unknown", fl.include_unknown, "also write unnamed regions for faces of nobody known");
  xmp->add_option("--people-tag", fl.people_tag, "parent tag of person tags in TagsList (default People)");

  auto* db = app.add_subcommand("db", "insert confirmed faces into digiKam's database (digiKam must be closed)");
  db->add_option("--digikam-db", fl.digikam_db, "digiKam's digikam4.db")->required();
  db->add_option("--root-map", fl.root_map,
                 "OLD=NEW: catalog paths under OLD are under NEW for digiKam (repeatable)");
  db->add_option("--volume", fl.volumes,
                 "UUID=MOUNTPOINT: where a volumeid:?uuid= album root is mounted (repeatable)");
  db->add_flag("--dry-run", fl.dry_run, "report what would be added; change nothing");

  auto* imp = app.add_subcommand("import", "names from digiKam's database and from XMP regions into the catalog");
  imp->add_option("--digikam-db", fl.digikam_db, "digiKam's digikam4.db (opened read-only)");
  imp->add_option("--xmp", fl.xmp_folders,
                  "FOLDER: MWG/MP regions in the sidecars of (or embedded in) the catalog's photos under it "
                  "(repeatable)");
  imp->add_option("--root-map", fl.root_map,
                  "OLD=NEW: catalog paths under OLD are under NEW for digiKam (repeatable)");
  imp->add_option("--volume", fl.volumes,
                  "UUID=MOUNTPOINT: where a volumeid:?uuid= album root is mounted (repeatable)");
  imp->add_option("--prefer", fl.prefer,
                  "digikam|facecat: who wins when facecat confirmed a face as someone else (default: nobody; "
                  "the conflict is reported and left)")
      ->check(CLI::IsMember({"digikam", "facecat"}));
  imp->add_flag("--dry-run", fl.dry_run, "report what would change; change nothing");

  auto* csv = app.add_subcommand("csv", "write path,name,x,y,width,height (display-frame pixels)");
  csv->add_option("-o,--output", fl.output, "the CSV file to write ('-' for stdout, instead of JSON events)")
      ->required();
  csv->add_flag("--include-suggested", fl.include_suggested, "also faces whose person is only suggested");
  csv->add_flag("--include-unknown", fl.include_unknown, "also faces of nobody known (empty name)");
  if (!parse_command_line(app, argc, argv)) return exit_code::ok;
  std::map<std::string, std::string> flags;
  if (!pipeline.empty()) flags["faces.pipeline"] = pipeline;
  Config cfg;
  if (!setup_tool("facecat-digikam", common, flags, cfg)) return exit_code::ok;
  if (!xmp->parsed() && !db->parsed() && !csv->parsed() && !imp->parsed())
    throw Fatal("say what to do: facecat-digikam xmp, db, csv or import (see --help)", exit_code::usage);
  if (imp->parsed()) return run_import(fl, cfg);

  SelectOptions so;
  so.pipeline = cfg.get("faces.pipeline");
  so.include_suggested = fl.include_suggested && !db->parsed();
  so.include_unknown = fl.include_unknown && !db->parsed();
  auto cat = open_catalog(cfg, catalog::Mode::Read);
  int errors = 0;
  SkippedSuggested skipped;
  auto images = select_faces(
      cat.db(), so, [&](const std::string& p, const std::string& why) { report_error(p, why, errors); }, &skipped);
  size_t n_faces = 0;
  for (const auto& i : images) n_faces += i.faces.size();
  spdlog::debug("{} images with detections, {} faces selected (pipeline {})", images.size(), n_faces, so.pipeline);
  const int rc = xmp->parsed() ? run_xmp(fl, images, errors)
                 : db->parsed() ? run_db(fl, images, errors)
                                : run_csv(fl, images, errors);
  warn_skipped_suggested(skipped, !db->parsed(), !(csv->parsed() && fl.output == "-"));
  return rc;
}

}  // namespace facecat::tools
