#include "core/tool.hpp"

#include <sys/stat.h>

#include <clocale>
#include <cstdio>
#include <locale>

#include "core/exit_codes.hpp"
#include "core/format.hpp"
#include "core/log.hpp"
#include "core/signals.hpp"
#include "util/spelling.hpp"
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

namespace {

// Every subcommand falls through to its parents (common options after a subcommand), and every option with several
// values takes one per occurrence (CLI11 lets a vector option swallow the positionals after it).
void apply_grammar(CLI::App& app) {
  app.fallthrough();
  for (CLI::Option* o : app.get_options())
    if (!o->get_positional() && o->get_allow_extra_args() && o->get_items_expected_max() > 1)
      o->allow_extra_args(false);
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) apply_grammar(*sub);
}

// The app and the subcommands parsed so far, outermost first.
std::vector<CLI::App*> parsed_chain(CLI::App& app) {
  std::vector<CLI::App*> chain{&app};
  for (auto subs = app.get_subcommands(); !subs.empty(); subs = chain.back()->get_subcommands())
    chain.push_back(subs.front());
  return chain;
}

std::vector<std::string> subcommand_names(CLI::App& app) {
  std::vector<std::string> names;
  for (const CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; }))
    if (!sub->get_name().empty()) names.push_back(sub->get_name());
  return names;
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

// The message for a parse error: the first argument nobody took, with a suggestion, else CLI11's own text.
std::string parse_error_message(CLI::App& app, int argc, char** argv, const CLI::ParseError& e) {
  const auto chain = parsed_chain(app);
  std::vector<std::string> left;
  for (const CLI::App* a : chain)
    for (auto& r : a->remaining(false)) left.push_back(r);
  std::string first;
  for (int i = 1; i < argc && first.empty(); ++i)
    for (const auto& l : left)
      if (l == argv[i]) first = l;
  CLI::App& here = *chain.back();
  const std::vector<std::string> subs = subcommand_names(here);
  if (!first.empty() && first.size() > 1 && first[0] == '-') {
    const std::string opt = first.substr(0, first.find('='));
    std::vector<std::string> names;
    for (CLI::App* a : chain)
      for (const CLI::Option* o : a->get_options()) {
        for (const auto& n : o->get_lnames()) names.push_back("--" + n);
        for (const auto& n : o->get_snames()) names.push_back("-" + n);
      }
    return "unknown option '" + opt + "'" + util::did_you_mean(opt, names);
  }
  if (!first.empty()) {
    if (subs.empty()) return "unexpected argument '" + first + "'";
    const std::string hint = util::did_you_mean(first, subs);
    return "unknown subcommand '" + first + "'" + (hint.empty() ? " (one of: " + join(subs) + ")" : hint);
  }
  if (dynamic_cast<const CLI::RequiredError*>(&e) && !subs.empty() && here.get_require_subcommand_min() > 0)
    return "a subcommand is required: " + join(subs);
  std::string msg = e.what();
  for (char& c : msg)
    if (c == '\n') c = ' ';
  return msg;
}

}  // namespace

bool parse_command_line(CLI::App& app, int argc, char** argv) {
  apply_grammar(app);
  if (app.get_footer().empty())
    app.footer(subcommand_names(app).empty()
                   ? "Repeat an option to give it several values: --set a.b=1 --set c.d=2."
                   : "Options go before or after the subcommand. Repeat an option to give it several values: "
                     "--set a.b=1 --set c.d=2.");
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {  // --help, --version
    app.exit(e);
    return false;
  } catch (const CLI::ParseError& e) {
    throw Fatal(parse_error_message(app, argc, argv, e), exit_code::usage);
  }
  return true;
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
