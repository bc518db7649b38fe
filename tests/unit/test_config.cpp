#include "core/config.hpp"

#include <fstream>
#include <regex>
#include <sstream>

#include "util/atomic_file.hpp"
#include "util/text.hpp"
#include <sys/stat.h>

#include "test_helpers.hpp"

using namespace facecat;

namespace {
struct EnvGuard {
  std::vector<std::string> names;
  void set(const std::string& n, const std::string& v) {
    names.push_back(n);
    ::setenv(n.c_str(), v.c_str(), 1);
  }
  ~EnvGuard() {
    for (auto& n : names) ::unsetenv(n.c_str());
  }
};
}  // namespace

TEST_CASE("precedence: flags > environment > config.ini > defaults, with origins", "[config]") {
  test::TempDir t;
  auto ini = t.path / "config.ini";
  {
    std::ofstream f(ini);
    f << "; comment\n[scan]\nRootPathForScanning = photos\nthreads = 3\n[faces]\nmin_face = 60\n"
         "[catalog]\npath = /from/ini.db\n";
  }
  EnvGuard env;
  env.set("FACECAT_THREADS", "5");
  env.set("FACECAT_MIN_FACE", "70");
  Config::LoadOptions lo;
  lo.config_file = ini;
  lo.overrides["faces.min_face"] = "90";
  auto c = Config::load(lo);
  REQUIRE(c);
  CHECK(c->get("faces.min_face") == "90");
  CHECK(c->origin("faces.min_face") == "command line");
  CHECK(c->get_int("scan.threads") == 5);
  CHECK(c->origin("scan.threads") == "environment FACECAT_THREADS");
  CHECK(c->get("catalog.path") == "/from/ini.db");
  CHECK(c->origin("catalog.path") == ini.string() + ":8");
  // Relative paths in config.ini are relative to the file.
  CHECK(c->get("scan.RootPathForScanning") == (t.path / "photos").string());
  CHECK(c->get("faces.crop_margin") == "0.3");
  CHECK(c->origin("faces.crop_margin") == "default");
  auto shown = c->show();
  CHECK(shown.find("(command line) faces.min_face = 90") != std::string::npos);
  CHECK(shown.find("(environment FACECAT_THREADS) scan.threads = 5") != std::string::npos);
  CHECK(shown.find("(default) faces.crop_margin = 0.3") != std::string::npos);
}

TEST_CASE("bad values are rejected with the file, line and key", "[config]") {
  test::TempDir t;
  auto ini = t.path / "config.ini";
  { std::ofstream(ini) << "[scan]\nthreads = many\n"; }
  Config::LoadOptions lo;
  lo.config_file = ini;
  auto c = Config::load(lo);
  REQUIRE_FALSE(c);
  CHECK(c.error().message.find(":2: scan.threads = 'many' is not an integer") != std::string::npos);
  CHECK(c.error().code == 2);
  EnvGuard env;
  env.set("FACECAT_SCAN_FOLLOW_SYMLINKS", "maybe");
  auto c2 = Config::load({});
  REQUIRE_FALSE(c2);
  CHECK(c2.error().message.find("not a boolean") != std::string::npos);
}

TEST_CASE("unknown keys warn, syntax errors fail", "[config]") {
  std::vector<std::string> warnings;
  auto r = Config::parse_ini("[scan]\nbogus = 1\n", "x.ini", &warnings);
  REQUIRE(r);
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0].find("x.ini:2: unknown key 'bogus' in [scan]") != std::string::npos);
  CHECK_FALSE(Config::parse_ini("[scan\n", "x.ini", nullptr));
  CHECK_FALSE(Config::parse_ini("novalue\n", "x.ini", nullptr));
  CHECK_FALSE(Config::parse_ini("a = 1\n", "x.ini", nullptr));  // outside a section
}

TEST_CASE("a token in a config.ini readable by others is refused", "[config]") {
  test::TempDir t;
  auto ini = t.path / "config.ini";
  { std::ofstream(ini) << "[vk]\ntoken = secret123\n"; }
  ::chmod(ini.c_str(), 0644);
  Config::LoadOptions lo;
  lo.config_file = ini;
  auto c = Config::load(lo);
  REQUIRE_FALSE(c);
  CHECK(c.error().message.find("chmod 600") != std::string::npos);
  CHECK(c.error().message.find("secret123") == std::string::npos);
  ::chmod(ini.c_str(), 0600);
  auto c2 = Config::load(lo);
  REQUIRE(c2);
  CHECK(c2->get("vk.token") == "secret123");
  CHECK(c2->show().find("secret123") == std::string::npos);
}

TEST_CASE("the shipped config.ini lists every option with its env var and nothing else", "[config]") {
  auto text = util::read_file(std::filesystem::path(FACECAT_SOURCE_DIR) / "config.ini");
  REQUIRE(text);
  // Uncomment every "; key = value" line and parse the result as INI.
  std::string uncommented;
  std::istringstream in(*text);
  for (std::string line; std::getline(in, line);) {
    static const std::regex commented_key(R"(^; ([A-Za-z_]+) =(.*)$)");
    std::smatch m;
    if (std::regex_match(line, m, commented_key)) {
      line = m[1].str() + " =" + m[2].str();
      line = line.substr(0, line.find("  ;"));
    } else if (line.rfind(";", 0) == 0) {
      continue;
    }
    uncommented += line + "\n";
  }
  std::vector<std::string> warnings;
  auto entries = Config::parse_ini(uncommented, "config.ini", &warnings);
  REQUIRE(entries);
  CHECK(warnings.empty());
  for (const auto& spec : option_specs()) {
    INFO(spec.key);
    CHECK(entries->count(spec.key) == 1);
    CHECK(text->find(std::string("env ") + spec.env) != std::string::npos);
  }
}
