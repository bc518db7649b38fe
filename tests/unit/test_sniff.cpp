#include "media/sniff.hpp"

#include <fstream>
#include <sstream>

#include "test_helpers.hpp"

using namespace facecat::media;

static std::string head_of(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::string s(4096, '\0');
  f.read(s.data(), s.size());
  s.resize(static_cast<size_t>(f.gcount()));
  return s;
}

TEST_CASE("kinds come from content, not from the name", "[sniff]") {
  FACECAT_REQUIRE_TESTDATA("faces/deepface/Scarlett/img47.jpg");
  auto td = test::testdata();
  auto webp = sniff(head_of(td / "faces/deepface/Scarlett/img47.jpg"));  // a WebP named .jpg
  CHECK(webp.kind == Kind::Image);
  CHECK(webp.format == "webp");
  CHECK(sniff(head_of(td / "faces/deepface/Angelina/img1.jpg")).format == "jpeg");
  CHECK(sniff(head_of(td / "faces/face_recognition/obama/32bit.png")).format == "png");
  CHECK(sniff(head_of(td / "video/testvideo.mp4")).format == "mp4");
  CHECK(sniff(head_of(td / "video/issue-236-split-copy.mkv")).format == "mkv");
  CHECK(sniff(head_of(td / "video/opencv-samples/Megamind.avi")).format == "avi");
}

TEST_CASE("sniffing made-up headers", "[sniff]") {
  using namespace std::literals;
  CHECK(sniff("II*\0\x08\0\0\0"sv).format == "tiff");
  CHECK(sniff("MM\0*\0\0\0\x08"sv).format == "tiff");
  CHECK(sniff("\0\0\0\x18" "ftypheic\0\0\0\0"sv).format == "heic");
  CHECK(sniff("\0\0\0\x18" "ftypqt  \0\0\0\0"sv).format == "mov");
  CHECK(sniff("\0\0\0\x18" "ftypisom\0\0\0\0"sv).format == "mp4");
  CHECK(sniff("\x1A\x45\xDF\xA3\x01\0\0\0\0\0\0\x1F\x42\x82\x84webm"sv).format == "webm");
  std::string bmp = "BM" + std::string(12, '\0') + std::string("\x28\0\0\0", 4) + std::string(12, '\0');
  CHECK(sniff(bmp).format == "bmp");
  CHECK(sniff("hello world, I am text").kind == Kind::Other);
  CHECK(sniff("").kind == Kind::Other);
  CHECK(sniff("\xFF").kind == Kind::Other);
  CHECK(has_media_extension("a.JPG"));
  CHECK(has_media_extension("clip.MkV"));
  CHECK_FALSE(has_media_extension("notes.txt"));
  CHECK_FALSE(has_media_extension("jpg"));
}
