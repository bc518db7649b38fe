#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "test_helpers.hpp"
#include "util/atomic_file.hpp"

using namespace facecat;
namespace fs = std::filesystem;

TEST_CASE("AtomicFile: the temp file is invisible until commit, and a killed writer's temp is recognised", "[util]") {
  ::test::TempDir t;
  const fs::path target = t.path / "frame.jpg";
  auto f = util::AtomicFile::create(target);
  REQUIRE(f);
  REQUIRE(f->write("abc"));
  const auto tmp = f->temp_path();
  CHECK(fs::exists(tmp));
  CHECK_FALSE(fs::exists(target));
  CHECK(util::is_atomic_temp_name(tmp.filename().string()));
  CHECK_FALSE(util::is_atomic_temp_name("frame.jpg"));
  CHECK_FALSE(util::is_atomic_temp_name(".frame.jpg.tmp.0123"));              // too short a suffix
  CHECK_FALSE(util::is_atomic_temp_name(".frame.jpg.tmp.0123456789abcdeg"));  // not hex
  CHECK_FALSE(util::is_atomic_temp_name("x.tmp.0123456789abcdef"));           // not hidden
  REQUIRE(f->commit());
  CHECK(fs::exists(target));
  CHECK_FALSE(fs::exists(tmp));

  // What SIGKILL leaves behind: a temp that no process owns any more. The sweep takes it and nothing else.
  std::ofstream(t.path / ".frame2.jpg.tmp.00112233445566ff") << "half";
  std::ofstream(t.path / ".hidden") << "keep";
  CHECK(util::remove_atomic_temps(t.path) == 1);
  CHECK_FALSE(fs::exists(t.path / ".frame2.jpg.tmp.00112233445566ff"));
  CHECK(fs::exists(t.path / ".hidden"));
  CHECK(fs::exists(target));
  CHECK(util::remove_atomic_temps(t.path / "missing") == 0);

  // Only one target's temps, only older ones, never a link.
  const auto now = fs::file_time_type::clock::now();
  const fs::path old_xmp = t.path / ".a.jpg.xmp.tmp.00112233445566ff", new_xmp = t.path / ".b.jpg.xmp.tmp.00112233445566ff",
                 old_jpg = t.path / ".c.jpg.tmp.00112233445566ff", link = t.path / ".d.jpg.xmp.tmp.00112233445566ff";
  for (const auto& p : {old_xmp, new_xmp, old_jpg}) std::ofstream(p) << "half";
  fs::create_symlink(target, link);
  fs::last_write_time(old_xmp, now - std::chrono::hours(1));
  fs::last_write_time(old_jpg, now - std::chrono::hours(1));
  fs::last_write_time(new_xmp, now + std::chrono::hours(1));
  auto xmp = [](std::string_view n) { return n.size() >= 4 && n.substr(n.size() - 4) == ".xmp"; };
  CHECK(util::remove_atomic_temps(t.path, xmp, now) == 1);
  CHECK_FALSE(fs::exists(old_xmp));
  CHECK(fs::exists(new_xmp));
  CHECK(fs::exists(old_jpg));
  CHECK(fs::is_symlink(link));
  CHECK(fs::exists(target));
}
