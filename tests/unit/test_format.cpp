#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <string>

#include "core/format.hpp"
#include "core/output.hpp"

using namespace facecat;

namespace {
// Runs fn with stdout (fd 1 and the FILE*) sent to a temporary file; returns what it printed.
template <class F>
std::string capture_stdout(F fn) {
  std::fflush(stdout);
  FILE* tmp = std::tmpfile();
  int saved = ::dup(1);
  ::dup2(::fileno(tmp), 1);
  fn();
  std::fflush(stdout);
  ::dup2(saved, 1);
  ::close(saved);
  std::rewind(tmp);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, tmp)) > 0) out.append(buf, n);
  std::fclose(tmp);
  return out;
}

std::vector<Column> cols() {
  return {{"ID", "face_id", nullptr, true}, {"NAME", "name", nullptr, false}};
}
}  // namespace

TEST_CASE("format: table aligns columns, right-aligns numbers, shows missing as '-'", "[format]") {
  auto out = capture_stdout([] {
    RecordPrinter p(OutputFormat::table, cols(), {"face"});
    p.add({{"event", "face"}, {"face_id", 7}, {"name", "Ann"}});
    p.add({{"event", "face"}, {"face_id", 1234}, {"name", nullptr}});
    p.add({{"event", "summary"}, {"face_count", 2}});  // not a row
  });
  CHECK(out == "  ID  NAME\n   7  Ann\n1234  -\n");
}

TEST_CASE("format: csv quotes per RFC 4180 and writes a header once", "[format]") {
  auto out = capture_stdout([] {
    RecordPrinter p(OutputFormat::csv, cols());
    p.add({{"event", "face"}, {"face_id", 1}, {"name", "Smith, \"Bob\""}});
    p.add({{"event", "face"}, {"face_id", 2}});
  });
  CHECK(out == "ID,NAME\n1,\"Smith, \"\"Bob\"\"\"\n2,\n");
}

TEST_CASE("format: jsonl emits every record, rows or not", "[format]") {
  auto out = capture_stdout([] {
    RecordPrinter p(OutputFormat::jsonl, cols(), {"face"});
    p.add({{"event", "face"}, {"face_id", 1}});
    p.add({{"event", "summary"}});
  });
  CHECK(out == "{\"event\":\"face\",\"face_id\":1}\n{\"event\":\"summary\"}\n");
}

TEST_CASE("format: other records reach on_other in table mode; no rows means no header", "[format]") {
  std::string seen;
  auto out = capture_stdout([&] {
    RecordPrinter p(OutputFormat::table, cols(), {"face"});
    p.on_other = [&](const json& r) { seen = r.value("event", ""); };
    p.add({{"event", "summary"}});
  });
  CHECK(out.empty());
  CHECK(seen == "summary");
}

TEST_CASE("format: an explicit --format wins; a bad one is a usage error", "[format]") {
  CHECK(resolve_format("csv") == OutputFormat::csv);
  CHECK(resolve_format("jsonl") == OutputFormat::jsonl);
  CHECK_THROWS(resolve_format("yaml"));
}

TEST_CASE("format: without columns a table prints one short line per record, no descriptor or _b64", "[format]") {
  json r = {{"event", "named"}, {"person_id", 3}, {"name", "Ann"}, {"descriptor", "AAAA"}, {"path_b64", "/w=="}};
  CHECK(summary_line(r) == "named  name=Ann  person_id=3");
  auto out = capture_stdout([&] {
    RecordPrinter p(OutputFormat::table, {});
    p.add(r);
  });
  CHECK(out == "named  name=Ann  person_id=3\n");
  out = capture_stdout([&] {
    RecordPrinter p(OutputFormat::csv, {});
    p.add(r);
    p.add({{"event", "named"}, {"person_id", 4}, {"name", "Bo, B"}});
  });
  CHECK(out == "event,name,path_b64,person_id\nnamed,Ann,/w==,3\nnamed,\"Bo, B\",,4\n");
}

TEST_CASE("format: emit() goes through the tool's printer; jsonl restores plain JSON Lines", "[format]") {
  auto out = capture_stdout([] {
    set_output_format(OutputFormat::table);
    use_columns({{"ID", "face_id", nullptr, true}}, {"face"});
    emit({{"event", "face"}, {"face_id", 7}});
    emit({{"event", "summary"}, {"face_count", 1}});  // not a row: one line, after the rows so far
    finish_output();
    set_output_format(OutputFormat::jsonl);
    emit({{"event", "face"}, {"face_id", 8}});
  });
  CHECK(out == "ID\n 7\nsummary  face_count=1\n{\"event\":\"face\",\"face_id\":8}\n");
}
