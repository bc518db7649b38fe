// String helpers that know nothing about facecat.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace facecat::util {

bool is_valid_utf8(std::string_view s);
// Replace each invalid byte with U+FFFD (for display only; never for identity).
std::string utf8_lossy(std::string_view s);
// For log lines: utf8_lossy, and control characters written as \n, \t, \r or \xNN, so that a file name with a
// newline still gives exactly one log line.
std::string printable(std::string_view s);
std::string base64_encode(std::string_view bytes);
std::optional<std::string> base64_decode(std::string_view text);

std::string trim(std::string_view s);
std::string to_lower(std::string_view s);
std::vector<std::string> split(std::string_view s, char sep, bool skip_empty = true);
bool starts_with(std::string_view s, std::string_view prefix);
bool ends_with(std::string_view s, std::string_view suffix);
// fnmatch(3) on one path component.
bool glob_match(const std::string& pattern, const std::string& name);

// Strict parsers (classic locale, whole string must match).
std::optional<int64_t> parse_int(std::string_view s);
std::optional<double> parse_double(std::string_view s);
// ccache's parse_bool: only true/false/yes/no/1/0/on/off; anything else is rejected so users see their typo.
std::optional<bool> parse_bool(std::string_view s);

// ISO-8601 UTC "YYYY-MM-DDTHH:MM:SSZ" for a unix time.
std::string iso_time(int64_t unix_seconds);
int64_t now_unix();

}  // namespace facecat::util
