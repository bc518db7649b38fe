// Confirmed faces straight into digiKam's own database (digikam4.db, SQLite, schema versions 15 and 16), following the
// recipe in ../shared/docs/digikam.md:
//  1. refuse when digiKam runs (a process named "digikam") or another program holds a lock on the file
//     (BEGIN EXCLUSIVE with no busy wait fails);
//  2. find each image by album root + album relativePath + name; roots are "volumeid:?path=/abs" or
//     "volumeid:?uuid=…" (mount point found through /dev/disk/by-uuid, or given with volumes), plus
//     "networkshareid:?mountpath=…"; root_map rewrites catalog path prefixes first (other machine, other mount);
//  3. the People parent: digiKam's own rule (the parent of the most top-level tag with a 'person' property, so a
//     localized "Personen" is reused), else a top-level tag named "People", else a new Tags(pid=0,'People');
//  4. a person tag: the tag whose 'person' property is the name, else a tag of that name under People (made a
//     person tag), else a new one under People, with TagProperties person and faceEngineId;
//  5. ImageTags(image, tag) and ImageTagProperties(image, tag, 'tagRegion', '<rect …/>') in display pixels.
// A dry pass under BEGIN EXCLUSIVE first decides whether anything is to be added; only then is a backup copy
// made (sqlite's online backup, written through AtomicFile), the exclusive lock taken again (refused if anyone
// committed in between, by PRAGMA data_version) and everything applied in one transaction. A second run
// therefore adds nothing and makes no backup. '/' in a name becomes '\' (tag names use '/' as separator).
#pragma once
#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "catalog/db.hpp"
#include "digikam/selection.hpp"
#include "util/result.hpp"

namespace facecat::digikam {

struct DbOptions {
  std::filesystem::path db_path;
  std::vector<std::pair<std::string, std::string>> root_map;  // catalog prefix -> prefix digiKam sees
  std::map<std::string, std::string> volumes;                 // volume uuid -> mount point
  bool check_process = true;                                  // refuse while a digikam process runs
  bool dry_run = false;
  // Take the given faces' regions out instead of adding them (facecat-people erase --digikam-db): the
  // ImageTagProperties row with the person's tag and exactly the rectangle facecat writes, and the ImageTags row
  // when no region of that tag is left on the image. Tags themselves and every other region stay.
  bool remove = false;
};

struct DbSummary {
  int images_matched = 0;
  int images_missing = 0;    // not in digiKam's database (not scanned there, or outside its roots)
  int faces_added = 0;       // ImageTagProperties rows added
  int faces_present = 0;     // already there (a second run)
  int faces_conflict = 0;    // the same rectangle already belongs to another person in digiKam
  int faces_removed = 0;     // remove: regions taken out
  int tags_created = 0;
  std::string backup;        // the backup copy, when one was made
};

// digiKam's album roots as absolute folders here (no trailing slash; "/" for the file system root): the
// identifier's path, uuid (through volumes or /dev/disk/by-uuid) or network mount path, plus specificPath.
// Roots that cannot be resolved are left out with a warning.
struct AlbumRoot {
  int64_t id;
  std::string path;
};
std::vector<AlbumRoot> album_roots(catalog::Db& db, const DbOptions& opts);

// Parses "OLD=NEW" (both absolute; trailing slashes dropped).
Result<std::pair<std::string, std::string>> parse_root_map(const std::string& spec);
// Applies the first mapping whose prefix matches on a path component boundary.
std::string map_root(const std::string& path, const std::vector<std::pair<std::string, std::string>>& root_map);
// The PID of a running digiKam that holds a file open in db_path's folder (its databases), or 0.
long find_running_digikam(const std::filesystem::path& db_path);

// Errors (exit code 3): digiKam runs, the file is locked, missing or not a digiKam database.
// on_event gets one JSON record per image (and "skipped" for images digiKam does not know).
Result<DbSummary> write_digikam_db(const std::vector<ExportImage>& images, const DbOptions& opts,
                                   const std::function<void(const nlohmann::json&)>& on_event);

}  // namespace facecat::digikam
