#include "core/tool.hpp"

#include <sys/stat.h>

#include <clocale>
#include <cstdio>
#include <locale>

#include "core/exit_codes.hpp"
#include "core/format.hpp"
#include "core/log.hpp"
#include "core/signals.hpp"
#include "util/text.hpp"

namespace facecat {

void add_common_options(CLI::App& app, CommonOptions& o, bool with_catalog) {
  app.add_option("--config", o.config_file, "config.ini to read (env FACECAT_CONFIG)");
  if (with_catalog) app.add_option("--catalog", o.catalog, "the SQLite catalog " + env_help("catalog.path"));
  app.add_option("--set", o.set, "override any config key: --set section.key=value (repeatable)");
  app.add_flag("--show-config", o.show_config, "print every setting with where it came from, then exit");
  app.add_flag("-q,--quiet", o.quiet, "only warnings and errors on stderr");
  app.add_flag("-v,--verbose", o.verbose, "more logging (-vv for trace)");
  if (with_catalog)
    app.add_flag("--wait", o.wait_lock, "wait for another writer's catalog lock instead of failing");
  add_format_option(app, o.format);
}

std::string env_help(const std::string& key) {
  const OptionSpec* s = find_option(key);
  if (!s) return {};
  std::string d = s->def;
  return std::string("(env ") + s->env + (d.empty() ? "" : "; default " + d) + ")";
}

bool setup_tool(const std::string& tool, CommonOptions& o, const std::map<std::string, std::string>& flag_overrides,
                Config& out) {
  Config::LoadOptions lo;
  if (!o.config_file.empty()) lo.config_file = o.config_file;
  lo.overrides = flag_overrides;
  for (const auto& kv : o.set) {
    auto eq = kv.find('=');
    if (eq == std::string::npos) throw Fatal("--set expects section.key=value, got '" + kv + "'", exit_code::usage);
    lo.overrides[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  if (!o.catalog.empty()) lo.overrides["catalog.path"] = o.catalog;
  if (o.wait_lock) lo.overrides["catalog.lock_wait"] = "true";
  out = value_or_throw(Config::load(lo));
  // Faces are biometric data: everything facecat creates from here on is owner-only (or group-readable), whatever
  // the umask. Existing files keep their permissions (AtomicFile keeps a replaced file's mode).
  const std::string privacy = out.get("privacy.mode");
  if (privacy == "private") ::umask(077);
  else if (privacy == "group") ::umask(027);
  else if (privacy != "umask")
    throw Fatal("privacy.mode must be private, group or umask, got '" + privacy + "'", exit_code::usage);
  LogSettings ls;
  ls.tool = tool;
  ls.level = out.get("log.level");
  ls.quiet = o.quiet;
  ls.verbose = o.verbose;
  ls.file = out.get("log.file");
  init_logging(ls);
  for (const auto& w : out.warnings()) spdlog::warn("{}", w);
  if (o.show_config) {
    std::fputs(out.show().c_str(), stdout);
    std::fflush(stdout);
    return false;
  }
  set_output_format(resolve_format(o.format));  // table on a terminal, JSON Lines for programs
  return true;
}

int run_tool(const char* tool, int argc, char** argv, const std::function<int(int, char**)>& body) {
  // The classic locale everywhere (OpenImageIO): numbers in JSON, SQL and XMP never get a decimal comma.
  std::setlocale(LC_ALL, "C");
  std::locale::global(std::locale::classic());
  install_signal_handlers();
  auto fatal_line = [&](const std::string& msg) {
    std::fprintf(stderr, "%s: error: %s\n", tool, msg.c_str());
  };
  try {
    int rc = body(argc, argv);
    finish_output();
    if (interrupted()) return interrupt_exit_code();
    return rc;
  } catch (const Interrupted&) {
    std::fprintf(stderr, "%s: interrupted\n", tool);
    return interrupt_exit_code() ? interrupt_exit_code() : exit_code::interrupted;
  } catch (const BrokenPipe&) {
    return exit_code::broken_pipe;  // the reader went away: exit quietly
  } catch (const Fatal& e) {
    fatal_line(e.what());
    if (e.code == exit_code::usage) {
      // Repeat argv: exposes quoting changed by parallel or ssh (OpenImageIO).
      std::string cmd;
      for (int i = 0; i < argc; ++i) cmd += std::string(i ? " " : "") + argv[i];
      std::fprintf(stderr, "%s: command line was: %s\n", tool, cmd.c_str());
    }
    return e.code;
  } catch (const std::exception& e) {
    fatal_line(e.what());
    return exit_code::some_failed;
  }
}

}  // namespace facecat
