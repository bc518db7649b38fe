#include <spdlog/spdlog.h>

#include "catalog/catalog.hpp"
#include "core/exit_codes.hpp"
#include "core/output.hpp"
#include "core/tool.hpp"
#include "review/review.hpp"
#include "tools/common.hpp"
#include "tools/review_tool.hpp"

namespace facecat::tools {

int review_main(int argc, char** argv) {
  CLI::App app{"facecat-review: a local web page for naming people: the catalog's suggested people and named people\n"
               "as face grids with name boxes, and actions (name, confirm, reject, split, merge, not a face), each one\n"
               "short transaction under the catalog's writer lock. Serves 127.0.0.1 on a free port; prints the\n"
               "address with this run's secret as one JSON record on stdout. Ctrl-C stops it."};
  app.set_version_flag("--version", FACECAT_VERSION);
  CommonOptions common;
  add_common_options(app, common);
  review::Options ro;
  app.add_option("--port", ro.port, "TCP port (default: a free one)")->check(CLI::Range(0, 65535));
  app.add_option("--bind", ro.bind, "address to listen on (default 127.0.0.1; others need --allow-remote)");
  app.add_flag("--allow-remote", ro.allow_remote,
               "allow a --bind address that other machines can reach (anyone with the printed address can edit)");
  app.add_option("--index-faces", ro.index_faces, "faces per group on the index page")->check(CLI::PositiveNumber);
  app.add_option("--people-per-page", ro.people_per_page, "groups per index page")->check(CLI::PositiveNumber);
  if (!parse_command_line(app, argc, argv)) return exit_code::ok;
  Config cfg;
  if (!setup_tool("facecat-review", common, {}, cfg)) return exit_code::ok;
  ro.catalog = cfg.get_path("catalog.path");
  ro.busy_timeout_ms = static_cast<int>(cfg.get_int("catalog.busy_timeout_ms"));
  if (!review::is_loopback(ro.bind) && !ro.allow_remote)
    throw Fatal("--bind " + ro.bind + " is not a loopback address; pass --allow-remote as well to serve other machines",
                exit_code::usage);
  { auto check = open_catalog(cfg, catalog::Mode::Read); }  // exit 3 now if the catalog is unusable
  if (!review::is_loopback(ro.bind))
    spdlog::warn("serving {} on {}: other machines can reach this page; anyone with the printed address can change "
                 "the catalog", ro.catalog.string(), ro.bind);
  auto actions = value_or_throw(review::serve(ro, [&](const review::Serving& s) {
    spdlog::info("open {} (Ctrl-C stops)", s.url);
    emit(json{{"event", "serving"}, {"url", s.url}, {"host", s.host}, {"port", s.port}});
  }));
  spdlog::info("stopped after {} changes", actions);
  return exit_code::ok;
}

}  // namespace facecat::tools
