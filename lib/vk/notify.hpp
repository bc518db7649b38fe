// facecat-vk notify: the text of a message, and a random_id derived from its content so that a retried send
// (a timeout, a re-run) is de-duplicated by VK instead of arriving twice.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "util/result.hpp"

namespace facecat::vk {

inline constexpr size_t kMaxMessageChars = 9000;  // messages.send's limit (characters)

// A positive 31-bit integer from XXH3 of "<user_id>\n<text>": the same message to the same user always gets the
// same random_id.
int64_t message_random_id(const std::string& user_id, const std::string& text);

// The message for facecat-match's JSONL output: one line per match record (name, VK page, distance, photo).
// Records without a person are skipped; text beyond the limit is cut at a line with "… and N more".
Result<std::string> message_from_match(const std::string& jsonl, const std::string& source_name);

// Counts UTF-8 characters (code points).
size_t utf8_length(const std::string& s);

}  // namespace facecat::vk
