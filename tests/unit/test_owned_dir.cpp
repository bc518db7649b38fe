// core/owned_dir: which folders facecat may write into (and so delete or replace files in), and util::AtomicFile
// over targets that are not regular files (issue 20).
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "core/exit_codes.hpp"
#include "core/owned_dir.hpp"
#include "test_helpers.hpp"
#include "util/atomic_file.hpp"

using namespace facecat;
namespace fs = std::filesystem;

namespace {
void touch(const fs::path& p, const std::string& text = "x") {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}
}  // namespace

TEST_CASE("claim_output_dir: new, empty and marked folders are facecat's; others are refused untouched", "[core]") {
  ::test::TempDir t;
  // new: created and marked
  REQUIRE(claim_output_dir(t.path / "new" / "crops", OwnedDirKind::Crops, "x"));
  CHECK(has_owned_dir_marker(t.path / "new" / "crops"));
  // empty: marked
  fs::create_directories(t.path / "empty");
  REQUIRE(claim_output_dir(t.path / "empty", OwnedDirKind::Frames, "x"));
  CHECK(has_owned_dir_marker(t.path / "empty"));
  // a user's folder: refused with exit 2, nothing written
  touch(t.path / "mine" / "holiday.jpg");
  auto r = claim_output_dir(t.path / "mine", OwnedDirKind::Report, "--out");
  REQUIRE_FALSE(r);
  CHECK(r.error().code == exit_code::usage);
  CHECK_THAT(r.error().message, Catch::Contains("not empty") && Catch::Contains("--out"));
  CHECK_FALSE(has_owned_dir_marker(t.path / "mine"));
  // a file: refused
  auto f = claim_output_dir(t.path / "mine" / "holiday.jpg", OwnedDirKind::Report, "--out");
  REQUIRE_FALSE(f);
  CHECK_THAT(f.error().message, Catch::Contains("not a folder"));
}

TEST_CASE("claim_output_dir: folders an older facecat wrote are recognised by their shape, and only those", "[core]") {
  ::test::TempDir t;
  struct Case {
    OwnedDirKind kind;
    std::vector<std::string> files;
    bool facecats;
  };
  const std::vector<Case> cases = {
      {OwnedDirKind::Crops, {"ab/abcd_v1_0.jpg", "0f/0f12_v1_1.jpg"}, true},
      {OwnedDirKind::Crops, {"ab/abcd_v1_0.jpg", "notes.txt"}, false},
      {OwnedDirKind::Crops, {"photos/x.jpg"}, false},
      {OwnedDirKind::Frames, {"film-0123abcd/film-0001.jpg", "my-clip-89abcdef/a.jpg"}, true},
      {OwnedDirKind::Frames, {"film-0123abcd/film-0001.jpg", "holiday/a.jpg"}, false},
      {OwnedDirKind::VkPhotos, {"12345_456239010.jpg", "-7_1.webp"}, true},
      {OwnedDirKind::VkPhotos, {"12345_456239010.jpg", "IMG_2020.jpg"}, false},
      {OwnedDirKind::Report, {"index.html", "style.css", "person-3.html", "person-3-2.html", "thumbs/1.jpg"}, false},
  };
  int i = 0;
  for (const auto& c : cases) {
    const fs::path d = t.path / ("case" + std::to_string(i++));
    for (const auto& f : c.files) touch(d / f);
    INFO("case " << i);
    CHECK(static_cast<bool>(claim_output_dir(d, c.kind, "x")) == c.facecats);
    CHECK(has_owned_dir_marker(d) == c.facecats);
  }
  // A report's pages without facecat's navigation bar are not facecat's; with it they are.
  const fs::path rep = t.path / "report";
  touch(rep / "index.html", "<nav><a href=\"index.html\">People</a><a href=\"clusters.html\">Unassigned clusters</a>");
  touch(rep / "style.css");
  touch(rep / "thumbs" / "1.jpg");
  CHECK(claim_output_dir(rep, OwnedDirKind::Report, "--out"));
}

TEST_CASE("protected_folder_reason: the root, $HOME, the current folder and its parents", "[core]") {
  ::test::TempDir t;
  CHECK(protected_folder_reason("/") == "it is the root folder");
  const fs::path cwd = fs::current_path();
  CHECK(protected_folder_reason(cwd) == "it is the current folder");
  CHECK(protected_folder_reason(cwd.parent_path()) == "it holds the current folder");
  CHECK(protected_folder_reason(t.path / "report") == "");
}

TEST_CASE("AtomicFile: a FIFO is written in place, a symlink through, a replaced file keeps its mode", "[util]") {
  ::test::TempDir t;
  // a symlink: the file it points to is replaced, the link stays
  touch(t.path / "real.csv", "old");
  fs::create_symlink(t.path / "real.csv", t.path / "link.csv");
  REQUIRE(util::write_file_atomic(t.path / "link.csv", "new"));
  CHECK(fs::is_symlink(t.path / "link.csv"));
  CHECK(util::read_file(t.path / "real.csv").value() == "new");
  // a dangling link is refused and stays
  fs::create_symlink(t.path / "nowhere" / "x", t.path / "dangling");
  CHECK_FALSE(util::write_file_atomic(t.path / "dangling", "x"));
  CHECK(fs::is_symlink(t.path / "dangling"));
  // a folder is refused
  fs::create_directories(t.path / "dir");
  CHECK_FALSE(util::write_file_atomic(t.path / "dir", "x"));
  // a replaced file keeps its permissions
  touch(t.path / "shared.txt");
  ::chmod((t.path / "shared.txt").c_str(), 0640);
  REQUIRE(util::write_file_atomic(t.path / "shared.txt", "y", 0600));
  struct stat st {};
  REQUIRE(::stat((t.path / "shared.txt").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0640);
  // a FIFO (opened for reading without blocking first, so the write does not wait) stays a FIFO
  const fs::path fifo = t.path / "fifo";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  int rd = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK);
  REQUIRE(rd >= 0);
  REQUIRE(util::write_file_atomic(fifo, "through the pipe"));
  char buf[64] = {0};
  CHECK(::read(rd, buf, sizeof buf - 1) == 16);
  ::close(rd);
  CHECK(std::string(buf) == "through the pipe");
  CHECK(fs::is_fifo(fifo));
}

TEST_CASE("claim_output_dir: the marker's temp files that a killed run left are removed, nothing else", "[core]") {
  ::test::TempDir t;
  const fs::path d = t.path / "frames";
  const auto now = fs::file_time_type::clock::now();
  const fs::path stale = d / "..facecat-folder.tmp.2574266ebdcb62bf";   // a run killed while marking
  const fs::path fresh = d / "..facecat-folder.tmp.0123456789abcdef";   // a run marking beside this one
  const fs::path users = d / "..facecat-folder.tmp.notes";              // not AtomicFile's name
  const fs::path other = d / ".film.jpg.tmp.0123456789abcdef";          // another file's temp: not the marker's
  touch(stale, "");
  fs::last_write_time(stale, now - std::chrono::hours(1));
  // Only the stale temp: the folder counts as facecat's (a killed run's temp file) and is marked.
  REQUIRE(claim_output_dir(d, OwnedDirKind::Frames, "x"));
  CHECK(has_owned_dir_marker(d));
  CHECK_FALSE(fs::exists(stale));
  // A marked folder: stale marker temps go, the rest stays.
  touch(stale, "");
  fs::last_write_time(stale, now - std::chrono::hours(1));
  touch(fresh, "");
  fs::last_write_time(fresh, now + std::chrono::hours(1));
  touch(users);
  fs::last_write_time(users, now - std::chrono::hours(1));
  touch(other);
  fs::last_write_time(other, now - std::chrono::hours(1));
  REQUIRE(claim_output_dir(d, OwnedDirKind::Frames, "x"));
  CHECK_FALSE(fs::exists(stale));
  CHECK(fs::exists(fresh));
  CHECK(fs::exists(users));
  CHECK(fs::exists(other));
  // An unmarked user's folder is refused, and its files (whatever their names) are not touched.
  const fs::path mine = t.path / "mine";
  touch(mine / "holiday.jpg");
  touch(mine / "..facecat-folder.tmp.2574266ebdcb62bf", "");
  fs::last_write_time(mine / "..facecat-folder.tmp.2574266ebdcb62bf", now - std::chrono::hours(1));
  REQUIRE_FALSE(claim_output_dir(mine, OwnedDirKind::Frames, "x"));
  CHECK(fs::exists(mine / "..facecat-folder.tmp.2574266ebdcb62bf"));
}
