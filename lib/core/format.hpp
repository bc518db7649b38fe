// One output choice for every tool (issue 13): JSON Lines for programs, a table for people, CSV for spreadsheets.
// `--format jsonl|table|csv` overrides; without it a terminal gets a table and anything else JSON Lines.
// Table rows stream: column widths come from the header and the first rows (up to kWidthSample) and a later
// cell that is wider is printed in full (the row shifts) rather than truncated, so nothing waits for the end.
#pragma once
#include <CLI/CLI.hpp>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace facecat {

using json = nlohmann::json;

enum class OutputFormat { jsonl, table, csv };

// Adds --format to an app (or a subcommand). `fmt` stays empty when the flag is not given.
CLI::Option* add_format_option(CLI::App& app, std::string& fmt);
// "" → table when stdout is a terminal, else jsonl. Anything else must be jsonl, table or csv.
OutputFormat resolve_format(const std::string& flag);

struct Column {
  std::string header;
  // The cell text for a record. Default (empty function): the record's field named by `key`, with strings
  // unquoted, numbers as JSON writes them, null/missing as "" (table: "-").
  std::string key;
  std::function<std::string(const json&)> cell;
  bool right_align = false;  // numbers
};

// Prints records in the chosen format. Without columns, table prints each record as one human line
// (summary_line) and csv takes its columns from the first record's fields. jsonl: each record via emit() (flushed per record). csv: one header line,
// then one RFC 4180 line per record. table: aligned columns. Records whose "event" is not in `row_events`
// (when that list is non-empty) are not rows: jsonl still emits them; table/csv pass them to on_other (default:
// nothing), so a summary or a warning can be shown in its own way.
class RecordPrinter {
 public:
  RecordPrinter(OutputFormat fmt, std::vector<Column> columns, std::vector<std::string> row_events = {});
  void add(const json& record);
  // Table: prints what is still buffered. Called by the destructor too.
  void finish();
  ~RecordPrinter();
  RecordPrinter(const RecordPrinter&) = delete;
  RecordPrinter& operator=(const RecordPrinter&) = delete;

  std::function<void(const json&)> on_other;
  OutputFormat format() const { return fmt_; }
  static constexpr size_t kWidthSample = 50;

 private:
  std::string cell(const Column& c, const json& r) const;
  void flush_buffer();
  void print_row(const std::vector<std::string>& cells);

  OutputFormat fmt_;
  std::vector<Column> cols_;
  std::vector<std::string> row_events_;
  std::vector<std::vector<std::string>> buffered_;
  std::vector<size_t> widths_;
  bool header_done_ = false;
  bool finished_ = false;
};

// One record as a short human line: "event  key=value  key=value"; descriptors and *_b64 fields are left out,
// long nested values are shortened.
std::string summary_line(const json& record);

// The tool's output. setup_tool resolves --format (CommonOptions::format) and, for table or csv, installs a
// printer without columns that emit() feeds, so every tool prints something readable on a terminal. A tool
// with its own columns calls use_columns() after setup_tool; it replaces that printer (jsonl: nothing changes).
OutputFormat output_format();
void set_output_format(OutputFormat fmt);
// Returns the printer now in use, or nullptr for jsonl.
RecordPrinter* use_columns(std::vector<Column> columns, std::vector<std::string> row_events = {});
// Prints what a table still buffers; run_tool calls it when the tool returns.
void finish_output();

}  // namespace facecat
