// Configuration: one table of options, each value tagged with where it came from (ccache's Config).
//
// Precedence, highest first:
//   1. command-line flags                       (origin "command line")
//   2. FACECAT_* environment variables          (origin "environment FACECAT_X")
//   3. config.ini                               (origin "<path>:<line>")
//   4. built-in defaults                        (origin "default")
// config.ini is found through --config, then FACECAT_CONFIG, then ./config.ini, then
// $XDG_CONFIG_HOME/facecat/config.ini (~/.config/facecat/config.ini).
#pragma once
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "util/result.hpp"

namespace facecat {

enum class OptType { String, Path, Int, Double, Bool, Secret };

struct OptionSpec {
  const char* key;      // "section.Key" as written in config.ini
  const char* env;      // FACECAT_... environment variable (or another documented name)
  const char* def;      // default value (may contain $XDG_DATA_HOME etc., expanded at load)
  OptType type;
  const char* help;
};

const std::vector<OptionSpec>& option_specs();
const OptionSpec* find_option(const std::string& key);

class Config {
 public:
  struct Value {
    std::string value;
    std::string origin;
  };

  struct LoadOptions {
    std::optional<std::filesystem::path> config_file;    // --config
    std::map<std::string, std::string> overrides;        // from flags, key -> value
  };
  // Reads environment + file + defaults; applies overrides. Errors use exit_code::usage.
  static Result<Config> load(const LoadOptions& opts);

  const std::string& get(const std::string& key) const;
  const std::string& origin(const std::string& key) const;
  std::filesystem::path get_path(const std::string& key) const;
  int64_t get_int(const std::string& key) const;
  double get_double(const std::string& key) const;
  bool get_bool(const std::string& key) const;
  void set(const std::string& key, std::string value, std::string origin);

  // "(origin) key = value" for every option; secrets are masked.
  std::string show() const;
  const std::optional<std::filesystem::path>& file() const { return file_; }
  const std::vector<std::string>& warnings() const { return warnings_; }

  // Parse INI text (exposed for tests and the fuzz target). Returns section.key -> (value, line).
  struct IniEntry {
    std::string value;
    int line;
  };
  static Result<std::map<std::string, IniEntry>> parse_ini(const std::string& text, const std::string& name,
                                                           std::vector<std::string>* warnings);

 private:
  std::map<std::string, Value> values_;
  std::optional<std::filesystem::path> file_;
  std::vector<std::string> warnings_;
};

// Expand a leading ~ and $HOME/$XDG_* references.
std::string expand_user_path(const std::string& s);

}  // namespace facecat
