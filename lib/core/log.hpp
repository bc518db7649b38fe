// Logs go to stderr only (stdout is for JSONL). On a terminal: "facecat-scan: warning: …"; otherwise (cron,
// pipes, ssh) every line carries a timestamp and pid. An optional rotating log file gets the same lines.
#pragma once
#include <spdlog/spdlog.h>

#include <string>

namespace facecat {

struct LogSettings {
  std::string tool;        // e.g. "facecat-scan"
  std::string level = "info";
  bool quiet = false;      // only warnings and errors on stderr (the log file keeps the level)
  int verbose = 0;         // -v: debug, -vv: trace
  std::string file;        // rotating log file, empty for none
};
void init_logging(const LogSettings& s);

}  // namespace facecat
