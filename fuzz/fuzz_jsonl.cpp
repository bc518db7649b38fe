// JSONL read by the tools: facecat-match records turned into a VK message (facecat-vk notify --from-match),
// and the path fields every tool reads back (get_path, with path_b64 for names that are not UTF-8).
// Wrong types, invalid UTF-8 and huge lines must give an error or be skipped, never an exception or a crash.
#include "core/output.hpp"
#include "fuzz_common.hpp"
#include "vk/notify.hpp"

using namespace facecat;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(fuzz::as_view(data, size));
  auto msg = vk::message_from_match(text, "fuzz.jsonl");
  if (msg && vk::utf8_length(*msg) > vk::kMaxMessageChars + 64) __builtin_trap();
  size_t start = 0;
  while (start <= text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string::npos) nl = text.size();
    auto j = json::parse(text.begin() + static_cast<std::ptrdiff_t>(start),
                         text.begin() + static_cast<std::ptrdiff_t>(nl), nullptr, false);
    if (!j.is_discarded() && j.is_object()) {
      (void)get_path(j, "path");
      (void)to_jsonl(j);
    }
    start = nl + 1;
  }
  return 0;
}
