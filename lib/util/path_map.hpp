// Path prefix mapping between two views of the same files, e.g. a shared mount that one machine sees at
// /mnt/photos and another at /srv/photos. A rule "FROM=TO" maps paths under FROM (whole components only:
// /mnt/photos2 is not under /mnt/photos) to the same place under TO, and back. Paths are raw bytes.
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "util/result.hpp"

namespace facecat::util {

class PathMap {
 public:
  struct Rule {
    std::string from, to;  // absolute, without a trailing '/' (except "/" itself)
  };
  // "FROM=TO": both absolute. Errors say what is wrong with the rule.
  Result<void> add(std::string_view rule);
  bool empty() const { return rules_.empty(); }
  const std::vector<Rule>& rules() const { return rules_; }
  // FROM -> TO by the longest matching FROM; unchanged when no rule matches.
  std::string forward(const std::string& path) const;
  // TO -> FROM by the longest matching TO.
  std::string back(const std::string& path) const;

 private:
  std::vector<Rule> rules_;
};

}  // namespace facecat::util
