#include "core/format.hpp"

#include <algorithm>
#include <cstdio>
#include <memory>
#include <mutex>

#include "core/exit_codes.hpp"
#include "core/output.hpp"
#include "core/tool.hpp"
#include "util/csv.hpp"
#include "util/text.hpp"

namespace facecat {

CLI::Option* add_format_option(CLI::App& app, std::string& fmt) {
  return app.add_option("--format", fmt, "jsonl, table or csv (default: table on a terminal, else jsonl)")
      ->check(CLI::IsMember({"jsonl", "table", "csv"}));
}

OutputFormat resolve_format(const std::string& flag) {
  if (flag.empty()) return stdout_is_tty() ? OutputFormat::table : OutputFormat::jsonl;
  if (flag == "jsonl") return OutputFormat::jsonl;
  if (flag == "table") return OutputFormat::table;
  if (flag == "csv") return OutputFormat::csv;
  throw Fatal("--format must be jsonl, table or csv, got '" + flag + "'", exit_code::usage);
}

namespace {
// Display width in terminal columns, counting UTF-8 code points (wide CJK glyphs count as one: good enough for
// names and paths, and never cuts a character).
size_t display_width(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}
}  // namespace

std::string summary_line(const json& r) {
  if (!r.is_object()) return r.dump(-1, ' ', false, json::error_handler_t::replace);
  std::string line = r.value("event", std::string("record"));
  for (auto it = r.begin(); it != r.end(); ++it) {
    const std::string& k = it.key();
    if (k == "event" || k == "descriptor" || (k.size() > 4 && k.compare(k.size() - 4, 4, "_b64") == 0)) continue;
    std::string v = it->is_string() ? it->get<std::string>()
                                    : it->dump(-1, ' ', false, json::error_handler_t::replace);
    if (v.size() > 80 && !it->is_string()) {
      v.resize(77);
      while (!v.empty() && (static_cast<unsigned char>(v.back()) & 0xC0) == 0x80) v.pop_back();
      if (!v.empty()) v.pop_back();
      v += "...";
    }
    line += "  ";
    line += k;
    line += '=';
    line += v;
  }
  return line;
}

RecordPrinter::RecordPrinter(OutputFormat fmt, std::vector<Column> columns, std::vector<std::string> row_events)
    : fmt_(fmt), cols_(std::move(columns)), row_events_(std::move(row_events)) {}

RecordPrinter::~RecordPrinter() {
  try {
    finish();
  } catch (...) {
  }
}

std::string RecordPrinter::cell(const Column& c, const json& r) const {
  if (c.cell) return c.cell(r);
  auto it = r.find(c.key);
  if (it == r.end() || it->is_null()) return fmt_ == OutputFormat::table ? "-" : "";
  if (it->is_string()) return it->get<std::string>();
  return it->dump(-1, ' ', false, json::error_handler_t::replace);
}

void RecordPrinter::print_row(const std::vector<std::string>& cells) {
  std::string line;
  for (size_t i = 0; i < cells.size(); ++i) {
    const std::string& s = cells[i];
    size_t w = display_width(s);
    size_t pad = widths_[i] > w ? widths_[i] - w : 0;
    bool last = i + 1 == cells.size();
    if (cols_[i].right_align) line.append(pad, ' ').append(s);
    else line.append(s).append(last ? 0 : pad, ' ');
    if (!last) line += "  ";
  }
  while (!line.empty() && line.back() == ' ') line.pop_back();
  line += '\n';
  write_stdout(line);
}

void RecordPrinter::flush_buffer() {
  if (!header_done_) {
    widths_.assign(cols_.size(), 0);
    for (size_t i = 0; i < cols_.size(); ++i) widths_[i] = display_width(cols_[i].header);
    for (const auto& row : buffered_)
      for (size_t i = 0; i < row.size(); ++i) widths_[i] = std::max(widths_[i], display_width(row[i]));
    std::vector<std::string> head;
    for (const auto& c : cols_) head.push_back(c.header);
    print_row(head);
    header_done_ = true;
  }
  for (const auto& row : buffered_) print_row(row);
  buffered_.clear();
  std::fflush(stdout);
}

void RecordPrinter::add(const json& record) {
  if (fmt_ == OutputFormat::jsonl) {
    emit_jsonl(record);
    return;
  }
  if (!row_events_.empty()) {
    std::string ev = record.value("event", std::string());
    if (std::find(row_events_.begin(), row_events_.end(), ev) == row_events_.end()) {
      if (on_other) {
        if (fmt_ == OutputFormat::table && !buffered_.empty()) flush_buffer();  // keep the order of the lines
        on_other(record);
      }
      return;
    }
  }
  if (cols_.empty() && fmt_ == OutputFormat::table) {
    std::string line = summary_line(record) + "\n";
    write_stdout(line);
    return;
  }
  if (cols_.empty()) {  // csv without columns: the first record's fields
    for (auto it = record.begin(); it != record.end(); ++it)
      if (it.key() != "descriptor") cols_.push_back({it.key(), it.key(), nullptr, false});
  }
  std::vector<std::string> cells;
  for (const auto& c : cols_) cells.push_back(cell(c, record));
  if (fmt_ == OutputFormat::csv) {
    std::string line;
    if (!header_done_) {
      for (size_t i = 0; i < cols_.size(); ++i) line += (i ? "," : "") + util::csv_field(cols_[i].header);
      line += '\n';
      header_done_ = true;
    }
    for (size_t i = 0; i < cells.size(); ++i) line += (i ? "," : "") + util::csv_field(cells[i]);
    line += '\n';
    write_stdout(line);
    return;
  }
  buffered_.push_back(std::move(cells));
  if (header_done_ || buffered_.size() >= kWidthSample) flush_buffer();
}

void RecordPrinter::finish() {
  if (finished_) return;
  finished_ = true;
  if (fmt_ == OutputFormat::table && (!buffered_.empty() || !header_done_)) {
    if (buffered_.empty()) return;  // no rows: no header either; the caller says "nothing found" its own way
    flush_buffer();
  }
  std::fflush(stdout);
}

namespace {
OutputFormat g_format = OutputFormat::jsonl;
std::unique_ptr<RecordPrinter> g_printer;
}  // namespace

OutputFormat output_format() { return g_format; }

RecordPrinter* use_columns(std::vector<Column> columns, std::vector<std::string> row_events) {
  set_emit_hook({});
  if (g_printer) g_printer->finish();
  g_printer.reset();
  if (g_format == OutputFormat::jsonl) return nullptr;
  g_printer = std::make_unique<RecordPrinter>(g_format, std::move(columns), std::move(row_events));
  RecordPrinter* p = g_printer.get();
  if (!p->on_other) p->on_other = [](const json& r) {
    std::string line = summary_line(r) + "\n";
    write_stdout(line);
  };
  set_emit_hook([p](const json& r) { p->add(r); });
  return p;
}

void set_output_format(OutputFormat fmt) {
  g_format = fmt;
  use_columns({});
}

void finish_output() {
  if (g_printer) g_printer->finish();
}

}  // namespace facecat
