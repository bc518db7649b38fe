// What every tool's main shares: the classic locale, signal handlers, common flags, config loading, logging,
// and the one catch that turns an exception into "facecat-x: error: …" and an exit code.
#pragma once
#include <CLI/CLI.hpp>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "util/result.hpp"

namespace facecat {

// Thrown to end a program with a message and an exit code (ccache's Fatal).
struct Fatal : std::runtime_error {
  Fatal(const std::string& msg, int code) : std::runtime_error(msg), code(code) {}
  explicit Fatal(const Error& e) : std::runtime_error(e.message), code(e.code) {}
  int code;
};

template <class T>
T value_or_throw(Result<T>&& r) {
  if (!r) throw Fatal(r.error());
  return std::move(r).value();
}
inline void value_or_throw(Result<void>&& r) {
  if (!r) throw Fatal(r.error());
}

struct CommonOptions {
  std::string config_file;
  std::string catalog;
  std::vector<std::string> set;   // --set section.key=value
  bool show_config = false;
  bool quiet = false;
  int verbose = 0;
  bool wait_lock = false;
  std::string format;             // --format jsonl|table|csv (core/format); empty: table on a terminal
};

// Adds --config, --catalog, --set, --show-config, -q, -v, --wait and --format to an app.
void add_common_options(CLI::App& app, CommonOptions& o, bool with_catalog = true);

// Parses argv with the one option grammar every tool shares (issue 13):
// - common options (and any option of a parent command) are accepted before or after a subcommand (fallthrough);
// - an option with several values takes one value per occurrence and may be repeated, so that
//   `--set a.b=c photo.jpg` leaves photo.jpg a positional;
// - an unknown option or subcommand names the closest known one ("did you mean …?");
// - every parse error is thrown as Fatal(exit_code::usage): one "facecat-x: error: …" line, exit 2.
// Returns false after --help or --version (printed; the caller exits 0).
bool parse_command_line(CLI::App& app, int argc, char** argv);

// Loads the config (flags > env > config.ini > defaults), sets up logging, prints warnings, and handles
// --show-config. Returns false when the caller should exit 0 right away (after --show-config).
bool setup_tool(const std::string& tool, CommonOptions& o, const std::map<std::string, std::string>& flag_overrides,
                Config& out);

// Runs body inside the one catch. body returns the exit code.
int run_tool(const char* tool, int argc, char** argv, const std::function<int(int, char**)>& body);

// "(env FACECAT_X; default Y)" for --help texts.
std::string env_help(const std::string& key);

}  // namespace facecat
