#include "tools/common.hpp"

#include "core/tool.hpp"

namespace facecat::tools {

catalog::Catalog open_catalog(const Config& cfg, catalog::Mode mode) {
  catalog::OpenOptions o;
  o.mode = mode;
  o.wait_for_lock = cfg.get_bool("catalog.lock_wait");
  o.busy_timeout_ms = static_cast<int>(cfg.get_int("catalog.busy_timeout_ms"));
  return value_or_throw(catalog::Catalog::open(cfg.get_path("catalog.path"), o));
}

}  // namespace facecat::tools
