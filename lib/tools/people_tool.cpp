#include <spdlog/spdlog.h>

#include <set>

#include "catalog/catalog.hpp"
#include "core/exit_codes.hpp"
#include "core/format.hpp"
#include "core/output.hpp"
#include "core/tool.hpp"
#include "people/erase.hpp"
#include "tools/digikam_tool.hpp"
#include "people/people.hpp"
#include "tools/common.hpp"
#include "tools/people_tool.hpp"
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

}  // namespace

int people_main(int argc, char** argv) {
  CLI::App app{"facecat-people: list, name, merge, split, confirm, reject and forget people.\n"
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
                                          "a name that exists already merges into that person)");
  name->add_option("TARGET", target, "c<cluster>, p<person> or f<face>")->required();
  name->add_option("NAME", new_name, "the person's name")->required();
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
    out.push_back(value_or_throw(people::name(db, ref(target), new_name)));
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
