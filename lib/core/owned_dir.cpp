#include "core/owned_dir.hpp"

#include <unistd.h>

#include <cstdlib>
#include <set>
#include <string_view>

#include "core/exit_codes.hpp"
#include "util/atomic_file.hpp"
#include "util/text.hpp"

namespace facecat {

namespace fs = std::filesystem;

const char* owned_dir_kind_name(OwnedDirKind k) {
  switch (k) {
    case OwnedDirKind::Report: return "report";
    case OwnedDirKind::Frames: return "scene frames";
    case OwnedDirKind::Crops: return "face crops";
    case OwnedDirKind::Chips: return "face chips";
    case OwnedDirKind::VkPhotos: return "VK photos";
    case OwnedDirKind::Models: return "face models";
  }
  return "output";
}

namespace {

Error usage(const std::string& m) { return make_error(m, exit_code::usage); }

bool all_of(std::string_view s, const char* set) { return !s.empty() && s.find_first_not_of(set) == s.npos; }
bool ends_with(std::string_view s, std::string_view e) { return s.size() >= e.size() && s.substr(s.size() - e.size()) == e; }
constexpr const char* kHex = "0123456789abcdef";

// "<digits,_,->_<digits,_,->.<image extension>": photo_basename() of lib/vk plus the extension of its content.
bool vk_photo_name(std::string_view n) {
  const auto dot = n.rfind('.');
  if (dot == n.npos) return false;
  const auto ext = n.substr(dot + 1);
  static const std::set<std::string_view> exts = {"jpg", "png", "webp", "gif", "bmp", "tiff", "heic"};
  const auto stem = n.substr(0, dot);
  const auto us = stem.find('_');
  return exts.count(ext) && us != stem.npos && all_of(stem, "0123456789_-") && us > 0 && us + 1 < stem.size();
}

// A page of the report: index.html, index-2.html, clusters.html, nobody.html, person-12.html, person-12-3.html,
// match.html, style.css.
bool report_page_name(std::string_view n) {
  if (n == "style.css" || n == "match.html") return true;
  if (!ends_with(n, ".html")) return false;
  auto stem = n.substr(0, n.size() - 5);
  for (std::string_view p : {"index", "clusters", "nobody"}) {
    if (stem == p) return true;
    if (stem.substr(0, p.size()) == p && stem.size() > p.size() + 1 && stem[p.size()] == '-' &&
        all_of(stem.substr(p.size() + 1), "0123456789"))
      return true;
  }
  if (stem.substr(0, 7) != "person-") return false;
  stem = stem.substr(7);
  const auto dash = stem.find('-');
  if (dash == stem.npos) return all_of(stem, "0123456789");
  return all_of(stem.substr(0, dash), "0123456789") && all_of(stem.substr(dash + 1), "0123456789");
}

// The shape of one entry of a folder that an earlier facecat (before markers) wrote, per kind.
bool legacy_entry(OwnedDirKind kind, const fs::directory_entry& de) {
  const std::string n = de.path().filename().string();
  std::error_code ec;
  const bool dir = de.is_directory(ec) && !de.is_symlink(ec);
  const bool file = de.is_regular_file(ec) && !de.is_symlink(ec);
  if (util::is_atomic_temp_name(n) && file) return true;  // a temp file a killed run left
  switch (kind) {
    case OwnedDirKind::Crops:
    case OwnedDirKind::Chips: return dir && ((n.size() == 2 && all_of(n, kHex)) || n == "xx");
    case OwnedDirKind::Frames: {  // <stem>-<8 hex>
      const auto dash = n.rfind('-');
      return dir && dash != n.npos && dash > 0 && n.size() - dash - 1 == 8 && all_of(n.substr(dash + 1), kHex);
    }
    case OwnedDirKind::VkPhotos: return file && vk_photo_name(n);
    case OwnedDirKind::Report: return (dir && (n == "thumbs" || n == "match")) || (file && report_page_name(n));
    case OwnedDirKind::Models:  // scripts/setup's folder (faces_store/models_store.cpp checks models folders)
      return (dir && (n == "face-api" || n == "ultraface" || n == "cache")) || (file && n == "SHA256SUMS");
  }
  return false;
}

// A folder an earlier facecat wrote: every entry has the kind's shape (and a report's index.html has facecat's
// navigation bar).
bool legacy_owned(const fs::path& dir, OwnedDirKind kind) {
  std::error_code ec;
  int n = 0;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (!legacy_entry(kind, *it)) return false;
    ++n;
  }
  if (ec || n == 0) return false;
  if (kind == OwnedDirKind::Report) {
    auto index = util::read_file(dir / "index.html", 1 << 22);
    if (!index || index->find("<nav><a href=\"index.html\">People</a><a href=\"clusters.html\">") == std::string::npos)
      return false;
  }
  return true;
}

// When this process started (static initialisation): a temp file older than that was not written by this run.
const fs::file_time_type kProcessStart = fs::file_time_type::clock::now();

// The marker's own temp files that a run killed while marking the folder left behind: removed when they are older
// than this process, so a run marking the folder beside this one keeps its file. Nothing else is touched: the name
// is the marker's AtomicFile temp name, which only facecat writes.
void remove_stale_marker_temps(const fs::path& dir) {
  util::remove_atomic_temps(dir, [](std::string_view t) { return t == kOwnedDirMarker; }, kProcessStart);
}

bool is_empty_dir(const fs::path& dir) {
  std::error_code ec;
  return fs::directory_iterator(dir, ec) == fs::directory_iterator() && !ec;
}

}  // namespace

bool has_owned_dir_marker(const fs::path& dir) {
  std::error_code ec;
  return fs::is_regular_file(fs::symlink_status(dir / kOwnedDirMarker, ec));
}

Result<void> write_owned_dir_marker(const fs::path& dir, OwnedDirKind kind) {
  std::string text = std::string("This folder holds facecat's ") + owned_dir_kind_name(kind) +
                     ".\nfacecat deletes or replaces files only in folders that carry this file; remove it to keep "
                     "facecat from changing anything here.\n";
  auto w = util::write_file_atomic(dir / kOwnedDirMarker, text);
  // A run claiming the folder beside this one may have taken this run's temp file for a killed run's: the folder
  // is then marked all the same, or one more try marks it.
  if (!w && has_owned_dir_marker(dir)) return {};
  if (!w) w = util::write_file_atomic(dir / kOwnedDirMarker, text);
  if (!w) return usage("cannot mark " + util::printable(dir.string()) + " as facecat's: " + w.error().message);
  return {};
}

std::string protected_folder_reason(const fs::path& dir) {
  std::error_code ec;
  const fs::path d = fs::weakly_canonical(fs::absolute(dir), ec).lexically_normal();
  auto same = [&](const fs::path& p) {
    std::error_code e2;
    return fs::equivalent(d, p, e2) && !e2;
  };
  if (d == d.root_path()) return "it is the root folder";
  if (const char* h = std::getenv("HOME"); h && *h && same(h)) return "it is the home folder";
  const fs::path cwd = fs::current_path(ec);
  if (!ec) {
    for (fs::path p = cwd; !p.empty(); p = p.parent_path()) {
      if (same(p)) return p == cwd ? "it is the current folder" : "it holds the current folder";
      if (p == p.root_path()) break;
    }
  }
  return "";
}

Result<void> claim_output_dir(const fs::path& dir, OwnedDirKind kind, const std::string& what) {
  const std::string shown = util::printable(dir.string());
  std::error_code ec;
  const auto st = fs::symlink_status(dir, ec);
  if (fs::exists(st) && !fs::is_directory(fs::status(dir, ec)))
    return usage(what + " " + shown + " is not a folder; facecat writes its " + owned_dir_kind_name(kind) +
                 " into a folder of its own: name a new or empty folder");
  if (!fs::exists(st)) {
    fs::create_directories(dir, ec);
    if (ec) return usage("cannot create " + what + " " + shown + ": " + ec.message());
    return write_owned_dir_marker(dir, kind);
  }
  if (has_owned_dir_marker(dir)) {
    remove_stale_marker_temps(dir);
    return {};
  }
  if (is_empty_dir(dir) || legacy_owned(dir, kind)) {  // a killed run's temp file counts as facecat's
    FACECAT_TRY(write_owned_dir_marker(dir, kind));
    remove_stale_marker_temps(dir);
    return {};
  }
  return usage(what + " " + shown + " is not empty and was not made by facecat (it has no " + kOwnedDirMarker +
               " file), so facecat will not write its " + owned_dir_kind_name(kind) +
               " there; name a new or empty folder");
}

}  // namespace facecat
