#include <spdlog/spdlog.h>

#include <chrono>

#include "core/exit_codes.hpp"
#include "core/output.hpp"
#include "core/tool.hpp"
#include "scan/scanner.hpp"
#include "tools/common.hpp"
#include "tools/tools.hpp"
#include "util/text.hpp"

namespace facecat::tools {

int scan_main(int argc, char** argv) {
  CLI::App app{"facecat-scan: register new, changed, moved and missing images and videos in the catalog.\n"
               "Prints one JSON event per file on stdout: new, changed, moved, missing, error (unchanged with --all)."};
  app.set_version_flag("--version", FACECAT_VERSION);
  CommonOptions common;
  add_common_options(app, common);
  std::vector<std::string> paths;
  bool all = false, prune = false, follow = false;
  std::vector<std::string> excludes;
  int threads = -1;
  app.add_option("PATH", paths, "folders or files to scan " + env_help("scan.RootPathForScanning"));
  app.add_flag("--all", all, "also print 'unchanged' events");
  app.add_flag("--prune", prune, "delete the rows of missing files instead of marking them missing");
  app.add_flag("--follow-symlinks", follow, "follow symlinked folders (loops are detected) " +
                                                env_help("scan.follow_symlinks"));
  app.add_option("--exclude", excludes, "skip names matching this glob (repeatable) " + env_help("scan.exclude"));
  app.add_option("-j,--threads", threads, "hashing threads " + env_help("scan.threads"));
  if (!parse_command_line(app, argc, argv)) return exit_code::ok;
  std::map<std::string, std::string> flags;
  if (follow) flags["scan.follow_symlinks"] = "true";
  if (threads >= 0) flags["scan.threads"] = std::to_string(threads);
  Config cfg;
  if (!setup_tool("facecat-scan", common, flags, cfg)) return exit_code::ok;

  scan::Options opts;
  if (paths.empty()) {
    auto root = cfg.get("scan.RootPathForScanning");
    if (root.empty())
      throw Fatal("no PATH given and scan.RootPathForScanning is not set (config.ini [scan] or FACECAT_SCAN_ROOT)",
                  exit_code::usage);
    paths.push_back(root);
  }
  for (const auto& p : paths) opts.roots.emplace_back(p);
  opts.excludes = util::split(cfg.get("scan.exclude"), ',');
  opts.excludes.insert(opts.excludes.end(), excludes.begin(), excludes.end());
  opts.follow_symlinks = cfg.get_bool("scan.follow_symlinks");
  opts.threads = static_cast<int>(cfg.get_int("scan.threads"));
  opts.emit_unchanged = all;
  opts.prune = prune;
  opts.max_file_bytes = static_cast<uint64_t>(cfg.get_int("scan.max_file_mb")) << 20;
  opts.progress = fancy_stderr() && !common.quiet;

  auto cat = open_catalog(cfg, catalog::Mode::Write);
  auto t0 = std::chrono::steady_clock::now();
  auto counts = scan::run(cat, opts, [](const json& e) { emit(e); });
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  spdlog::info("{} files: {} new, {} changed, {} moved, {} missing, {} errors, {} warnings, {} unchanged, {} skipped "
               "in {:.2f} s", counts.seen, counts.new_, counts.changed, counts.moved, counts.missing, counts.errors,
               counts.warnings, counts.unchanged, counts.skipped, secs);
  return counts.errors ? exit_code::some_failed : exit_code::ok;
}

}  // namespace facecat::tools
