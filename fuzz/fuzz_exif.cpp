// EXIF blocks and whole image files: parse_exif on the raw bytes, then read_media_info on them as a file (the
// way facecat-scan reads them: sniffed type, head and tail, and the offset of the last JPEG EOI marker).
#include "fuzz_common.hpp"
#include "media/metadata.hpp"

using namespace facecat;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static fuzz::ScratchFile file;
  auto in = fuzz::as_view(data, size);
  std::string warning;
  (void)media::parse_exif(in, &warning);

  auto head = in.substr(0, 4096);
  auto tail = in.substr(in.size() > 4096 ? in.size() - 4096 : 0);
  auto type = media::sniff(head);
  if (type.kind == media::Kind::Other) return 0;
  int64_t last_eoi = -1;
  if (type.format == "jpeg") {
    auto p = in.rfind("\xFF\xD9");
    last_eoi = p == std::string_view::npos ? -1 : static_cast<int64_t>(p);
  }
  const auto& path = file.write(in);
  (void)media::read_media_info(path, type, head, tail, size, last_eoi);
  (void)media::read_media_info(path, type, head, tail, size, -2);  // a caller that did not stream the file
  return 0;
}
