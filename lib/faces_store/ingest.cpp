#include "faces_store/ingest.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <memory>

#include "core/signals.hpp"
#include "faces_store/store.hpp"

namespace facecat::faces_store {

nlohmann::json IngestCounts::to_json() const {
  return {{"line_count", lines}, {"detection_count", detections}, {"face_count", faces},
          {"replaced_count", replaced}, {"kept_assignment_count", kept_assignments}, {"unknown_file_count", unknown_files},
          {"file_error_count", file_errors}, {"bad_line_count", bad_lines}};
}

IngestCounts ingest_stream(catalog::Db& db, std::istream& in, const std::string& name, const EventSink& event) {
  using clk = std::chrono::steady_clock;
  IngestCounts c;
  const std::string shown = name == "-" ? "<stdin>" : name;
  const std::string host = host_name();
  RecordAssembler as;
  std::unique_ptr<catalog::Transaction> tx;
  int in_tx = 0;
  auto tx_start = clk::now();
  auto commit = [&] {
    if (tx) tx->commit();
    tx.reset();
    in_tx = 0;
  };
  auto problem = [&](int64_t line, const std::string& why) {
    ++c.bad_lines;
    spdlog::error("{}:{}: {}", shown, line, why);
    event({{"event", "error"}, {"input", shown}, {"line", line}, {"reason", why}});
  };

  std::string text;
  while (std::getline(in, text)) {
    ++c.lines;
    if (interrupted()) {
      commit();
      throw Interrupted();
    }
    if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded()) {
      problem(c.lines, "not valid JSON");
      continue;
    }
    auto r = as.add(j, c.lines);
    if (!r) {
      problem(c.lines, r.error().message);
      continue;
    }
    if (!*r) continue;
    DetectionRecord& d = **r;
    if (!d.error.empty()) {
      ++c.file_errors;
      // Transient failures (unreadable, changed since the scan) and records without a hash are not results.
      auto retry = j.find("retry");  // a non-boolean "retry" is no retry (never a json::type_error)
      bool transient = retry != j.end() && retry->is_boolean() && retry->get<bool>();
      if (d.file_hash.size() != 32 || d.pipeline_version.empty() || transient) continue;
    }
    if (!tx) {
      tx = std::make_unique<catalog::Transaction>(db);
      tx_start = clk::now();
    }
    auto s = store_detection(db, d, host);
    if (!s) {
      problem(c.lines, s.error().message);
      continue;
    }
    ++c.detections;
    c.faces += s->faces;
    c.replaced += s->replaced;
    c.kept_assignments += s->kept_assignments;
    c.unknown_files += !s->known_file;
    if (++in_tx >= 64 || clk::now() - tx_start > std::chrono::milliseconds(500)) commit();
  }
  if (as.pending()) problem(c.lines, "incomplete at end of input: " + as.pending_what());
  commit();
  return c;
}

}  // namespace facecat::faces_store
