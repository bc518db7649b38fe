#include "vk/notify.hpp"

#include <sstream>

#include "core/exit_codes.hpp"
#include "core/output.hpp"
#include "util/hash.hpp"
#include "util/text.hpp"

namespace facecat::vk {

int64_t message_random_id(const std::string& user_id, const std::string& text) {
  std::string h = util::xxh3_128_hex(user_id + "\n" + text);
  uint64_t v = std::stoull(h.substr(0, 16), nullptr, 16);
  int64_t id = static_cast<int64_t>(v & 0x7fffffffULL);
  return id == 0 ? 1 : id;
}

size_t utf8_length(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}

Result<std::string> message_from_match(const std::string& jsonl, const std::string& source_name) {
  std::vector<std::string> lines;
  std::istringstream in(jsonl);
  std::string line;
  int lineno = 0;
  for (; std::getline(in, line); ) {
    ++lineno;
    if (util::trim(line).empty()) continue;
    if (!util::is_valid_utf8(line))
      return make_error(source_name + ":" + std::to_string(lineno) + ": not valid UTF-8", exit_code::usage);
    json j = json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object())
      return make_error(source_name + ":" + std::to_string(lineno) + ": not a JSON object", exit_code::usage);
    // facecat-match records: a person (name / vk_id / person_id) and optionally distance and the photo.
    // Wrong types are the input's fault: say which field on which line (never a json::type_error).
    auto where = source_name + ":" + std::to_string(lineno) + ": ";
    std::string name;
    if (auto it = j.find("name"); it != j.end() && !it->is_null()) {
      if (!it->is_string()) return make_error(where + "\"name\" is not a string", exit_code::usage);
      name = it->get<std::string>();
    }
    std::string vk;
    for (const char* k : {"vk_id", "external_id"}) {
      auto it = j.find(k);
      if (it == j.end() || it->is_null()) continue;
      if (it->is_string()) vk = it->get<std::string>();
      else if (it->is_number_integer()) vk = it->dump();
      else return make_error(where + "\"" + k + "\" is not a VK id (a number or a string)", exit_code::usage);
    }
    if (name.empty() && vk.empty()) continue;
    std::string l = name.empty() ? "id" + vk : name;
    if (!vk.empty()) l += " (https://vk.com/id" + vk + ")";
    if (j.contains("distance") && j["distance"].is_number()) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.2f", j["distance"].get<double>());
      l += std::string(", distance ") + buf;
    }
    std::string photo = get_path(j, "path");
    if (photo.empty()) photo = get_path(j, "query");
    if (!photo.empty()) {
      auto slash = photo.rfind('/');
      l += ", photo " + util::utf8_lossy(slash == std::string::npos ? photo : photo.substr(slash + 1));
    }
    lines.push_back(l);
  }
  if (lines.empty())
    return make_error(source_name + ": no match records with a person (name or vk_id) in it", exit_code::usage);
  std::string text = "facecat found " + std::to_string(lines.size()) + (lines.size() == 1 ? " person" : " people") +
                     " in your photo:";
  for (size_t i = 0; i < lines.size(); ++i) {
    std::string more = "\n… and " + std::to_string(lines.size() - i) + " more";
    if (utf8_length(text) + utf8_length(lines[i]) + 1 + utf8_length(more) > kMaxMessageChars) {
      text += more;
      break;
    }
    text += "\n" + lines[i];
  }
  return text;
}

}  // namespace facecat::vk
