// XMP merge (facecat-digikam xmp): an existing sidecar of any content must either merge or be refused with an
// error, never crash. When it merges, the result must read back, and merging again must give the same bytes
// (xmp.hpp promises a fixed point).
#include <cstdio>

#include "digikam/xmp.hpp"
#include "fuzz_common.hpp"

using namespace facecat;
using namespace facecat::digikam;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string existing(fuzz::as_view(data, size));
  (void)read_regions(existing);

  XmpContent c;
  c.stored = {640, 480};
  c.orientation = 6;
  c.regions = {{std::string("Alice Liddell"), {10, 20, 100, 120}}, {std::nullopt, {300, 200, 50, 50}},
               {std::string("Bob/Smith"), {600, 440, 40, 40}}};
  c.people = {"Alice Liddell", "Bob/Smith"};
  auto merged = merge_sidecar(&existing, c);
  if (!merged) return 0;
  auto back = read_regions(merged->xml);
  if (!back) {  // we wrote something we cannot read
    if (std::getenv("FACECAT_FUZZ_DEBUG"))
      std::fprintf(stderr, "--- merged\n%s\n--- read_regions: %s\n", merged->xml.c_str(), back.error().message.c_str());
    __builtin_trap();
  }
  auto again = merge_sidecar(&merged->xml, c);
  if (!again || again->xml != merged->xml) {  // not a fixed point
    if (std::getenv("FACECAT_FUZZ_DEBUG")) {
      std::fprintf(stderr, "--- first merge\n%s\n--- second merge\n%s\n", merged->xml.c_str(),
                   again ? again->xml.c_str() : again.error().message.c_str());
    }
    __builtin_trap();
  }
  return 0;
}
