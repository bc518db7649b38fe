#include "core/log.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/sink.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <cstdio>
#include <mutex>

#include "core/output.hpp"
#include "core/progress.hpp"

namespace facecat {

namespace {

// stderr on a terminal: each line is written inside a ProgressPause, so that it lands above the progress bar (which
// is cleared first and drawn again below it) and never on the bar's line. The pause's mutex also serialises the
// formatter, so this sink needs no mutex of its own.
class TerminalSink final : public spdlog::sinks::sink {
 public:
  void log(const spdlog::details::log_msg& msg) override {
    ProgressPause pause;
    spdlog::memory_buf_t buf;
    formatter_->format(msg, buf);
    std::fwrite(buf.data(), 1, buf.size(), stderr);
    std::fflush(stderr);
  }
  void flush() override {
    ProgressPause pause;
    std::fflush(stderr);
  }
  void set_pattern(const std::string& pattern) override {
    ProgressPause pause;
    formatter_ = std::make_unique<spdlog::pattern_formatter>(pattern);
  }
  void set_formatter(std::unique_ptr<spdlog::formatter> f) override {
    ProgressPause pause;
    formatter_ = std::move(f);
  }

 private:
  std::unique_ptr<spdlog::formatter> formatter_ = std::make_unique<spdlog::pattern_formatter>();
};

}  // namespace

void init_logging(const LogSettings& s) {
  std::vector<spdlog::sink_ptr> sinks;
  spdlog::sink_ptr err;
  if (stderr_is_tty()) {
    err = std::make_shared<TerminalSink>();
    err->set_pattern("%n: %l: %v");
  } else {
    err = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    err->set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %n[%P] %l: %v");
  }
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
