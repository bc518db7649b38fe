// stdout carries JSON Lines only: one object per line, flushed per record, so `parallel --line-buffer` never
// splits a record. Paths that are not valid UTF-8 are written losslessly (see path_fields()).
#pragma once
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

namespace facecat {

using json = nlohmann::json;

// Write one record and flush. Throws BrokenPipe when the reader has gone. When a tool prints a table or CSV
// (core/format: --format, or a terminal), the record goes to that printer instead.
void emit(const json& record);
// Always one JSON line (what emit() does without a printer).
void emit_jsonl(const json& record);
// Human text for stdout (tables, summaries): written and flushed above a progress bar, never onto it.
void write_stdout(const std::string& text);
// Where emit() sends records; an empty function restores JSON Lines. Calls are serialized.
void set_emit_hook(std::function<void(const json&)> hook);
// Serialize a record the way emit() does (for tests and for files).
std::string to_jsonl(const json& record);

// JSON fields for a path: {"path": "<utf-8>"} or, for a name that is not valid UTF-8,
// {"path": "<lossy display form>", "path_b64": "<base64 of the raw bytes>"}.
void put_path(json& record, const std::string& raw_path, const char* key = "path");
// The raw path back from a record written by put_path (prefers "<key>_b64"). Empty if absent or malformed.
std::string get_path(const json& record, const char* key = "path");

bool stdout_is_tty();
bool stderr_is_tty();
// Progress bars and colours only when stderr is a terminal, TERM is not "dumb" and --quiet is off.
bool fancy_stderr();

}  // namespace facecat
