#include "util/path_map.hpp"

namespace facecat::util {
namespace {

std::string strip_slash(std::string_view p) {
  std::string s(p);
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

// The part of path below prefix ("" for the prefix itself, "/rest" below it), or false.
bool below(const std::string& path, const std::string& prefix, std::string& rest) {
  if (prefix == "/") {
    if (path.empty() || path[0] != '/') return false;
    rest = path;
    return true;
  }
  if (path.compare(0, prefix.size(), prefix) != 0) return false;
  if (path.size() > prefix.size() && path[prefix.size()] != '/') return false;
  rest = path.substr(prefix.size());
  return true;
}

std::string apply(const std::vector<PathMap::Rule>& rules, const std::string& path, bool fwd) {
  const PathMap::Rule* best = nullptr;
  std::string best_rest;
  for (const auto& r : rules) {
    const std::string& src = fwd ? r.from : r.to;
    std::string rest;
    if (below(path, src, rest) && (!best || src.size() > (fwd ? best->from : best->to).size())) {
      best = &r;
      best_rest = rest;
    }
  }
  if (!best) return path;
  const std::string& dst = fwd ? best->to : best->from;
  if (dst == "/") return best_rest.empty() ? "/" : best_rest;
  return dst + best_rest;
}

}  // namespace

Result<void> PathMap::add(std::string_view rule) {
  auto eq = rule.find('=');
  if (eq == std::string_view::npos) return make_error("path map '" + std::string(rule) + "': expected FROM=TO");
  Rule r{strip_slash(rule.substr(0, eq)), strip_slash(rule.substr(eq + 1))};
  if (r.from.empty() || r.from[0] != '/' || r.to.empty() || r.to[0] != '/')
    return make_error("path map '" + std::string(rule) + "': FROM and TO must be absolute paths");
  rules_.push_back(std::move(r));
  return {};
}

std::string PathMap::forward(const std::string& path) const { return apply(rules_, path, true); }
std::string PathMap::back(const std::string& path) const { return apply(rules_, path, false); }

}  // namespace facecat::util
