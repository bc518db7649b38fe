#include "core/log.hpp"

#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

#include "core/output.hpp"

namespace facecat {

void init_logging(const LogSettings& s) {
  std::vector<spdlog::sink_ptr> sinks;
  auto err = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  if (stderr_is_tty())
    err->set_pattern("%n: %l: %v");
  else
    err->set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %n[%P] %l: %v");
  sinks.push_back(err);
  if (!s.file.empty()) {
    try {
      auto f = std::make_shared<spdlog::sinks::rotating_file_sink_mt>(s.file, 10 * 1024 * 1024, 5);
      f->set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %n[%P] %l: %v");
      sinks.push_back(f);
    } catch (const spdlog::spdlog_ex& e) {
      err->log(spdlog::details::log_msg(s.tool, spdlog::level::warn,
                                        std::string("cannot open log file ") + s.file + ": " + e.what()));
    }
  }
  auto logger = std::make_shared<spdlog::logger>(s.tool, sinks.begin(), sinks.end());
  auto level = spdlog::level::from_str(s.level);
  if (s.verbose >= 2) level = spdlog::level::trace;
  else if (s.verbose == 1) level = spdlog::level::debug;
  // --quiet silences stderr only (cron mails what a job prints); the log file keeps the configured level, so a
  // quiet cron job still leaves its summary lines in log.file.
  if (s.quiet && level < spdlog::level::warn) err->set_level(spdlog::level::warn);
  logger->set_level(level);
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(logger);
}

}  // namespace facecat
