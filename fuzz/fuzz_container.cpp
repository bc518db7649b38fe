// Video container headers: MP4/MOV boxes, Matroska/WebM EBML, AVI RIFF. The sniffed format when the magic is
// right, otherwise one picked by the first byte, so every reader sees arbitrary bytes too.
#include "fuzz_common.hpp"
#include "media/container.hpp"
#include "media/sniff.hpp"

using namespace facecat;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static fuzz::ScratchFile file;
  static const char* formats[] = {"mp4", "mov", "mkv", "webm", "avi"};
  auto in = fuzz::as_view(data, size);
  auto type = media::sniff(in.substr(0, 4096));
  std::string format = type.kind == media::Kind::Video ? type.format : formats[size ? data[0] % 5 : 0];
  const auto& path = file.write(in);
  (void)media::read_container(path, format, size);
  return 0;
}
