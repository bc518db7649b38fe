// config.ini: the INI parser, then a full Config::load of the same text as a file (value checks, path
// expansion, the secret-permission rule). Any text must load or be refused with an error, never crash.
#include "core/config.hpp"
#include "fuzz_common.hpp"

using namespace facecat;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static fuzz::ScratchFile file;
  std::string text(fuzz::as_view(data, size));
  std::vector<std::string> warnings;
  auto entries = Config::parse_ini(text, "fuzz.ini", &warnings);
  if (!entries) {
    if (entries.error().message.empty()) __builtin_trap();  // every refusal says why
    return 0;
  }
  Config::LoadOptions lo;
  lo.config_file = file.write(text);
  auto cfg = Config::load(lo);
  if (cfg) (void)cfg->show();
  return 0;
}
