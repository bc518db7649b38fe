#include <spdlog/spdlog.h>

#include <cstdio>
#include <filesystem>
#include <optional>
#include <set>

#include "catalog/catalog.hpp"
#include "core/exit_codes.hpp"
#include "core/format.hpp"
#include "core/output.hpp"
#include "core/tool.hpp"
#include "people/erase.hpp"
#include "tools/digikam_tool.hpp"
#include "people/people.hpp"
#include "people/show.hpp"
#include "tools/common.hpp"
#include "tools/people_tool.hpp"
#include "util/hash.hpp"
#include "util/text.hpp"

namespace facecat::tools {
namespace {

// `list` on a terminal (or --format table/csv): one row per person.
void people_list_table() {
  auto ids = [](const char* key, const char* prefix) {
    return [key, prefix](const json& r) -> std::string {
      std::string out;
      auto it = r.find(key);
      if (it == r.end() || !it->is_array()) return out;
      for (const auto& v : *it) {
        if (!out.empty()) out += ' ';
        out += prefix;
        out += v.dump();
      }
      return out;
    };
  };
  auto sources = [](const json& r) -> std::string {
    std::string out;
    auto it = r.find("sources");
    if (it == r.end() || !it->is_array()) return out;
    for (const auto& s : *it) {
      if (!out.empty()) out += ' ';
      out += s.value("source", std::string());
      out += ':';
      out += s.value("external_id", std::string());
    }
    return out;
  };
  use_columns({{"ID", "", [](const json& r) { return std::string("p").append(r.value("person_id", json(0)).dump()); }, true},
               {"NAME", "name", nullptr, false},
               {"STATUS", "status", nullptr, false},
               {"FACES", "face_count", nullptr, true},
               {"CONFIRMED", "confirmed_count", nullptr, true},
               {"CLUSTERS", "", ids("cluster_ids", "c"), false},
               {"SOURCES", "", sources, false}},
              {"person"});
}

namespace fs = std::filesystem;

std::string str(const json& r, const char* key) {
  auto it = r.find(key);
  if (it == r.end() || it->is_null()) return {};
  return it->is_string() ? it->get<std::string>() : it->dump();
}
std::string ref_cell(const json& r, const char* key, char prefix) {
  auto v = str(r, key);
  return v.empty() ? "-" : prefix + v;
}
std::string box_cell(const json& r) {
  const auto& b = r.at("box");
  return std::to_string(b[0].get<int64_t>()) + "," + std::to_string(b[1].get<int64_t>()) + " " +
         std::to_string(b[2].get<int64_t>()) + "x" + std::to_string(b[3].get<int64_t>());
}
Column box_part(const char* name, size_t i) {
  return {name, "", [i](const json& r) { return std::to_string(r.at("box")[i].get<int64_t>()); }, true};
}

// "p3 'Alice' (confirmed)", "p3 (unnamed, suggested)"
std::string person_label(const json& r) {
  std::string s = "p" + str(r, "person_id");
  const std::string n = str(r, "name");
  s += n.empty() ? " (unnamed" : " '" + n + "' (";
  s += n.empty() ? ", " : "";
  return s + str(r, "status") + ")";
}

// After `name` on a cluster or person: say when its faces are only suggested, since the exports skip those.
void hint_unconfirmed(catalog::Db& db, const std::string& new_name) {
  auto who = people::resolve(db, new_name);
  if (!who) return;
  const auto c = people::face_counts(db, who->id);
  if (c.suggested == 0) return;
  spdlog::info("p{} '{}': {} of {} faces are suggested, not confirmed; facecat-digikam exports confirmed faces only "
               "('facecat-people confirm p{}' confirms them)",
               who->id, util::trim(new_name), c.suggested, c.faces, who->id);
}

int show_person(catalog::Db& db, const std::string& target, OutputFormat f) {
  auto ref = value_or_throw(people::resolve(db, target));
  auto records = value_or_throw(people::show(db, ref));
  std::vector<Column> cols;
  if (f == OutputFormat::csv)
    cols = {{"face_id", "face_id", nullptr, true}, {"person_id", "person_id", nullptr, true},
            {"name", "name", nullptr, false},      {"status", "status", nullptr, false},
            box_part("x", 0), box_part("y", 1), box_part("w", 2), box_part("h", 3),
            {"cluster_id", "cluster_id", nullptr, true}, {"path", "path", nullptr, false},
            {"crop", "crop", nullptr, false}};
  else
    cols = {{"FACE", "", [](const json& r) { return ref_cell(r, "face_id", 'f'); }, true},
            {"STATUS", "status", nullptr, false},
            {"BOX", "", box_cell, false},
            {"PATH", "path", nullptr, false},
            {"CROP", "crop", nullptr, false}};
  RecordPrinter out(f, std::move(cols), {"catalog_face"});
  out.on_other = [&](const json& r) {
    if (f != OutputFormat::table) return;
    std::string line;
    if (r.value("event", "") == "person") {
      line = person_label(r) + ": " + str(r, "face_count") + " faces, " + str(r, "confirmed_count") +
             " confirmed, " + str(r, "suggested_count") + " suggested";
      if (!r["cluster_ids"].empty()) {
        line += "; clusters";
        for (const auto& c : r["cluster_ids"]) line += " c" + c.dump();
      }
    } else {
      line = "cluster c" + str(r, "cluster_id") + " (nobody's yet): " + str(r, "face_count") + " faces";
    }
    write_stdout(line + "\n");
  };
  for (const auto& r : records) out.add(r);
  return exit_code::ok;
}

// A photo argument to the catalog's row: by its absolute path, by its real path (symlinks resolved), else by its
// content (a copy or a renamed file the catalog knows under another name). Empty, with `why`, when none.
std::optional<people::PhotoRow> find_photo(catalog::Db& db, const std::string& arg, std::string& why) {
  std::error_code ec;
  const fs::path abs = fs::absolute(arg, ec).lexically_normal();
  if (auto p = people::photo_by_path(db, abs.string())) return p;
  const fs::path real = fs::canonical(abs, ec);
  if (!ec && real != abs)
    if (auto p = people::photo_by_path(db, real.string())) return p;
  if (ec || !fs::exists(real, ec)) {
    why = "no such file, and the catalog has no photo at this path";
    return std::nullopt;
  }
  if (fs::is_directory(real, ec)) {
    why = "is a folder; facecat-people in takes photos";
    return std::nullopt;
  }
  if (auto d = util::digest_file(real, 0, 0))
    if (auto p = people::photo_by_hash(db, d->hash)) {
      spdlog::info("{}: the catalog has this content as {}", util::printable(abs.string()), util::printable(p->path));
      return p;
    }
  why = "not in the catalog (facecat-scan its folder, then facecat-detect)";
  return std::nullopt;
}

int show_photos(catalog::Db& db, const std::vector<std::string>& photos, const std::string& pipeline,
                OutputFormat f) {
  std::vector<Column> cols;
  if (f == OutputFormat::csv)
    cols = {{"path", "path", nullptr, false},      {"face_id", "face_id", nullptr, true},
            {"face_index", "face_index", nullptr, true},
            box_part("x", 0), box_part("y", 1), box_part("w", 2), box_part("h", 3),
            {"person_id", "person_id", nullptr, true}, {"name", "name", nullptr, false},
            {"status", "status", nullptr, false},    {"cluster_id", "cluster_id", nullptr, true}};
  else
    cols = {{"FACE", "", [](const json& r) { return ref_cell(r, "face_id", 'f'); }, true},
            {"#", "face_index", nullptr, true},
            {"BOX", "", box_cell, false},
            {"PERSON", "", [](const json& r) { return ref_cell(r, "person_id", 'p'); }, true},
            {"NAME", "name", nullptr, false},
            {"STATUS", "status", nullptr, false},
            {"CLUSTER", "", [](const json& r) { return ref_cell(r, "cluster_id", 'c'); }, true}};
  // csv and jsonl: one stream; table: one table per photo under a line naming it.
  std::optional<RecordPrinter> one;
  if (f != OutputFormat::table) one.emplace(f, cols, std::vector<std::string>{"catalog_face"});
  int failed = 0;
  bool first = true;
  for (const auto& arg : photos) {
    std::string why;
    auto photo = find_photo(db, arg, why);
    if (photo && photo->kind != "image") {
      why = "the catalog has it as a " + photo->kind + ", not a photo";
      photo.reset();
    }
    if (!photo) {
      ++failed;
      spdlog::error("{}: {}", util::printable(arg), why);
      if (f == OutputFormat::jsonl) {
        json e{{"event", "error"}};
        put_path(e, arg);
        e["reason"] = why;
        emit(e);
      }
      continue;
    }
    auto records = people::faces_in(db, *photo, pipeline);
    const json& head = records.front();
    if (!head.value("analysed", false))
      spdlog::warn("{}: {}", util::printable(photo->path),
                   photo->error ? "unusable: " + *photo->error : std::string("not analysed yet (run facecat-detect)"));
    if (one) {
      for (const auto& r : records) one->add(r);
      continue;
    }
    if (!first) write_stdout("\n");
    first = false;
    std::string line = str(head, "path") + ": ";
    const int64_t n = head.value("face_count", int64_t{0});
    line += !head.value("analysed", false) ? "not analysed"
            : n == 0                       ? "no faces"
                                           : std::to_string(n) + (n == 1 ? " face" : " faces");
    write_stdout(line + "\n");
    RecordPrinter table(f, cols, {"catalog_face"});
    for (const auto& r : records) table.add(r);
  }
  return failed ? exit_code::some_failed : exit_code::ok;
}

}  // namespace

int people_main(int argc, char** argv) {
  CLI::App app{"facecat-people: list, show, name, merge, split, confirm, reject and forget people; the faces in a photo.\n"
               "References: p<id> or <id> = a person, c<id> = a cluster, f<id> = a face, or a person's exact name.\n"
               "Prints one JSON record per person (list) or per change on stdout."};
  app.set_version_flag("--version", FACECAT_VERSION);
  app.require_subcommand(1);
  CommonOptions common;
  add_common_options(app, common);
  bool named_only = false;
  std::string target, new_name, a, b;
  std::vector<std::string> refs;
  std::string split_name;
  auto* list = app.add_subcommand("list", "one JSON record per person (id, name, status, faces, clusters, sources)");
  list->add_flag("--named", named_only, "leave out suggested (unnamed) people");
  auto* name = app.add_subcommand("name", "give a cluster, person or face a name (a face is confirmed as that person; "
                                          "a cluster's faces stay suggested until confirm). A name another person "
                                          "has already is refused: use merge, or --merge");
  name->add_option("TARGET", target, "c<cluster>, p<person> or f<face>")->required();
  name->add_option("NAME", new_name, "the person's name")->required();
  bool name_merge = false;
  name->add_flag("--merge", name_merge, "when another person has this name: join them (as merge does)");
  auto* show = app.add_subcommand("show", "a person and their faces: face ids, paths, boxes, status, crops "
                                          "(a table on a terminal, else JSON Lines)");
  show->add_option("REF", target, "p<id>, c<cluster>, f<face> (that face's person) or an exact name")->required();
  std::vector<std::string> photos;
  auto* in = app.add_subcommand("in", "the faces in a photo and who each is (a table on a terminal, else JSON Lines)");
  in->add_option("PHOTO", photos, "photos in the catalog (by path; a copy is found by its content)")->required();
  auto* merge = app.add_subcommand("merge", "move every face and source of B into A and delete B");
  merge->add_option("A", a, "the person that stays")->required();
  merge->add_option("B", b, "the person that goes")->required();
  auto* split = app.add_subcommand("split", "move faces out of their person into a new one (they become confirmed)");
  split->add_option("FACE", refs, "f<id>...")->required();
  split->add_option("--name", split_name, "name of the new person (or an existing one)");
  auto* confirm = app.add_subcommand("confirm", "confirm a person (all its suggested faces), a cluster or faces");
  confirm->add_option("TARGET", refs, "p<id>, c<id> or f<id>...")->required();
  auto* reject = app.add_subcommand("reject", "a face (or a cluster's or person's suggested faces) is not that person");
  reject->add_option("TARGET", refs, "f<id>, c<id> or p<id>...")->required();
  auto* notface = app.add_subcommand("not-a-face", "these detections are not faces: they leave their person and cluster, "
                                                   "and matching, clustering and the exports skip them");
  notface->add_option("FACE", refs, "f<id>...")->required();
  auto* forget = app.add_subcommand("forget", "delete a person and its sources; its faces become nobody's");
  forget->add_option("TARGET", refs, "p<id>, c<id> or a name...")->required();
  auto* erase = app.add_subcommand(
      "erase", "remove a person for good: the person, every descriptor, landmark and quality row of their faces, their "
               "crops, chips and report thumbnails and the search index files; then overwrite the freed catalog pages");
  people::EraseOptions eo;
  std::string report_dir;
  erase->add_option("REF", target, "a name, p<id>, c<cluster> or vk:<VK id>")->required();
  erase->add_flag("--block", eo.block,
                  "keep the file hash and box of each erased face (no biometric data), so that detect, ingest and "
                  "merge never store those faces again");
  erase->add_flag("--vk", eo.vk, "also the person's VK profile rows and downloaded profile photos");
  erase->add_flag("--dry-run", eo.dry_run, "only count what would be removed");
  erase->add_option("--report", report_dir, "a facecat report folder whose thumbnails of these faces go too");
  bool erase_xmp = false, compat_names = false;
  erase->add_flag("--xmp", erase_xmp,
                  "also take the regions and People tags facecat wrote for them out of the photos' XMP sidecars "
                  "(other tools' regions stay)");
  erase->add_flag("--compat-names", compat_names, "with --xmp: the sidecars are named photo.xmp");
  std::string digikam_db;
  std::vector<std::string> root_map;
  erase->add_option("--digikam-db", digikam_db,
                    "also take the regions facecat-digikam db wrote for them out of this digikam4.db (close digiKam "
                    "first; a backup is made)");
  erase->add_option("--root-map", root_map, "with --digikam-db: OLD=NEW as for facecat-digikam db (repeatable)");
  if (!parse_command_line(app, argc, argv)) return exit_code::ok;
  Config cfg;
  if (!setup_tool("facecat-people", common, {}, cfg)) return exit_code::ok;

  if (list->parsed()) {
    auto cat = open_catalog(cfg, catalog::Mode::Read);
    people_list_table();
    for (auto& r : people::list(cat.db(), !named_only)) emit(r);
    return exit_code::ok;
  }
  if (show->parsed() || in->parsed()) {
    auto cat = open_catalog(cfg, catalog::Mode::Read);
    const OutputFormat f = output_format();  // the common --format, before or after the subcommand
    if (show->parsed()) return show_person(cat.db(), target, f);
    return show_photos(cat.db(), photos, cfg.get("faces.pipeline"), f);
  }
  auto cat = open_catalog(cfg, catalog::Mode::Write);
  if (erase->parsed()) {
    eo.chips_dir = cfg.get_path("faces.chips_path");
    eo.report_dir = report_dir;
    // digiKam's database first (it refuses while digiKam runs): when it cannot be written, nothing is erased.
    if (!digikam_db.empty() && !eo.dry_run) {
      people::EraseOptions plan = eo;
      plan.dry_run = true;
      auto p = value_or_throw(people::erase(cat, target, plan));
      remove_from_digikam_db(cat.db(), cfg, p.face_ids, digikam_db, root_map);
    }
    auto r = value_or_throw(people::erase(cat, target, eo));
    if (erase_xmp && !eo.dry_run) {
      const int failed = rewrite_sidecars(cat.db(), cfg, r.file_hashes, compat_names);
      if (failed) r.disk_errors.push_back(std::to_string(failed) + " sidecar(s) could not be rewritten");
    }
    for (const auto& e : r.disk_errors) spdlog::warn("{}", e);
    json e = r.to_json();
    if (eo.dry_run) e["event"] = "would_erase";
    emit(e);
    spdlog::info("{} {}: {} face(s), {} crop(s), {} chip(s), {} thumbnail(s), {} index file(s), {} VK photo file(s); "
                 "{:.2f} s in the catalog, {:.2f} s rewriting its pages",
                 eo.dry_run ? "would erase" : "erased", r.name.empty() ? "p" + std::to_string(r.person) : r.name,
                 r.removed["faces"], r.removed["crops"], r.removed["chips"], r.removed["thumbnails"],
                 r.removed["index_files"], r.removed["vk_photo_files"], r.seconds_delete, r.seconds_vacuum);
    return r.disk_errors.empty() ? exit_code::ok : exit_code::some_failed;
  }
  auto& db = cat.db();
  catalog::Transaction tx(db);
  std::vector<json> out;
  auto ref = [&](const std::string& s) { return value_or_throw(people::resolve(db, s)); };
  if (name->parsed()) {
    const auto what = ref(target);
    out.push_back(value_or_throw(people::name(db, what, new_name, name_merge)));
    if (what.kind != people::Ref::Kind::Face) hint_unconfirmed(db, new_name);
  } else if (merge->parsed()) {
    out.push_back(value_or_throw(people::merge(db, ref(a), ref(b))));
  } else if (split->parsed()) {
    std::vector<int64_t> faces;
    for (auto& r : refs) {
      auto x = ref(r);
      if (x.kind != people::Ref::Kind::Face) throw Fatal("split takes faces (f<id>), not '" + r + "'", exit_code::usage);
      faces.push_back(x.id);
    }
    out.push_back(value_or_throw(
        people::split(db, faces, split_name.empty() ? std::nullopt : std::optional<std::string>(split_name))));
  } else if (notface->parsed()) {
    for (auto& r : refs) {
      auto x = ref(r);
      if (x.kind != people::Ref::Kind::Face) throw Fatal("not-a-face takes faces (f<id>), not '" + r + "'", exit_code::usage);
      out.push_back(value_or_throw(people::not_a_face(db, x.id)));
    }
  } else {
    for (auto& r : refs) {
      auto x = ref(r);
      if (confirm->parsed()) out.push_back(value_or_throw(people::confirm(db, x)));
      else if (reject->parsed()) out.push_back(value_or_throw(people::reject(db, x)));
      else out.push_back(value_or_throw(people::forget(db, x)));
    }
  }
  tx.commit();
  for (auto& r : out) emit(r);
  return exit_code::ok;
}

}  // namespace facecat::tools
