#include "media/metadata.hpp"

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include <array>
#include <cmath>
#include <cstdio>

#include "test_helpers.hpp"
#include "util/atomic_file.hpp"
#include "util/hash.hpp"

using namespace facecat;

namespace {

media::MediaInfo info_of(const std::filesystem::path& p) {
  auto d = util::digest_file(p);
  REQUIRE(d);
  return media::read_media_info(p, media::sniff(d->head), d->head, d->tail, d->bytes, d->last_jpeg_eoi);
}

std::string capture(const std::string& cmd) {
  std::string out;
  FILE* f = ::popen(cmd.c_str(), "r");
  REQUIRE(f);
  std::array<char, 4096> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), f)) > 0) out.append(buf.data(), n);
  ::pclose(f);
  return out;
}

void require_exiftool() {
  if (!test::have("exiftool")) {
    WARN("SKIPPED: exiftool is not installed (scripts/setup installs libimage-exiftool-perl)");
    std::exit(4);
  }
}

}  // namespace

TEST_CASE("EXIF of real photos agrees with exiftool", "[exif]") {
  require_exiftool();
  FACECAT_REQUIRE_TESTDATA("faces/deepface");
  int compared = 0;
  for (const char* rel : {"faces/deepface/Angelina/img1.jpg", "faces/deepface/Angelina/img2.jpg",
                          "faces/deepface/Mark/img13.jpg", "faces/deepface/Jennifer/img3.jpg",
                          "faces/face_recognition/obama/obama.jpg"}) {
    auto p = test::testdata() / rel;
    auto j = nlohmann::json::parse(capture("exiftool -j -n -DateTimeOriginal -OffsetTimeOriginal -Make -Model "
                                           "-LensModel -Orientation -ExposureTime -FNumber -ISO -FocalLength "
                                           "-ImageWidth -ImageHeight '" + p.string() + "'"))[0];
    auto mi = info_of(p);
    INFO(rel);
    CHECK(mi.error.empty());
    CHECK(mi.width == j["ImageWidth"].get<int64_t>());
    CHECK(mi.height == j["ImageHeight"].get<int64_t>());
    if (j.contains("Make")) CHECK(mi.exif.make == j["Make"].get<std::string>());
    else CHECK_FALSE(mi.exif.make);
    if (j.contains("Model")) CHECK(mi.exif.model == j["Model"].get<std::string>());
    if (j.contains("LensModel")) CHECK(mi.exif.lens == j["LensModel"].get<std::string>());
    if (j.contains("Orientation")) CHECK(mi.exif.orientation == j["Orientation"].get<int>());
    if (j.contains("ISO")) CHECK(mi.exif.iso == j["ISO"].get<int64_t>());
    if (j.contains("FNumber")) CHECK(std::fabs(*mi.exif.f_number - j["FNumber"].get<double>()) < 1e-6);
    if (j.contains("ExposureTime"))
      CHECK(std::fabs(*mi.exif.exposure_time - j["ExposureTime"].get<double>()) < 1e-9);
    if (j.contains("DateTimeOriginal")) {
      auto want = j["DateTimeOriginal"].get<std::string>();
      want[4] = '-';
      want[7] = '-';
      want[10] = 'T';
      CHECK(mi.exif.taken_at == want.substr(0, 19));
    }
    if (j.contains("OffsetTimeOriginal")) CHECK(mi.exif.taken_offset == j["OffsetTimeOriginal"].get<std::string>());
    ++compared;
  }
  CHECK(compared == 5);
}

TEST_CASE("tags written by exiftool are read back: date, offset, camera, GPS signs, orientation", "[exif]") {
  require_exiftool();
  test::TempDir t;
  auto p = t.path / "made.jpg";
  cv::Mat img(48, 64, CV_8UC3, cv::Scalar(10, 120, 200));
  REQUIRE(cv::imwrite(p.string(), img));
  REQUIRE(test::sh("exiftool -q -overwrite_original -DateTimeOriginal='2021:03:04 05:06:07' "
                   "-OffsetTimeOriginal='+03:00' -Make='FaceCam' -Model='FC 1' -LensModel='50mm f/1.8' "
                   "-Orientation#=6 -GPSLatitude=33.8688 -GPSLatitudeRef=S -GPSLongitude=151.2093 "
                   "-GPSLongitudeRef=E -GPSAltitude=12.5 -GPSAltitudeRef#=1 -ExposureTime=0.004 -FNumber=2.8 "
                   "-ISO=400 -FocalLength=35 '" + p.string() + "'") == 0);
  auto mi = info_of(p);
  CHECK(mi.error.empty());
  CHECK(mi.warning.empty());
  CHECK(mi.width == 64);
  CHECK(mi.height == 48);
  CHECK(mi.exif.taken_at == "2021-03-04T05:06:07");
  CHECK(mi.exif.taken_offset == "+03:00");
  CHECK(mi.exif.make == "FaceCam");
  CHECK(mi.exif.model == "FC 1");
  CHECK(mi.exif.lens == "50mm f/1.8");
  CHECK(mi.exif.orientation == 6);
  REQUIRE(mi.exif.gps_lat);
  CHECK(std::fabs(*mi.exif.gps_lat - -33.8688) < 1e-4);  // south is negative
  CHECK(std::fabs(*mi.exif.gps_lon - 151.2093) < 1e-4);
  CHECK(std::fabs(*mi.exif.gps_alt - -12.5) < 1e-6);     // below sea level
  CHECK(std::fabs(*mi.exif.exposure_time - 0.004) < 1e-9);
  CHECK(std::fabs(*mi.exif.f_number - 2.8) < 1e-9);
  CHECK(mi.exif.iso == 400);
  CHECK(std::fabs(*mi.exif.focal_length - 35) < 1e-9);
}

TEST_CASE("PNG and WebP sizes come from their headers", "[exif]") {
  test::TempDir t;
  cv::Mat img(31, 77, CV_8UC3, cv::Scalar(1, 2, 3));
  for (const char* ext : {"png", "webp", "bmp", "tiff"}) {
    auto p = t.path / (std::string("x.") + ext);
    REQUIRE(cv::imwrite(p.string(), img));
    auto mi = info_of(p);
    INFO(ext);
    CHECK(mi.type.format == (std::string(ext) == "tiff" ? "tiff" : ext));
    CHECK(mi.error.empty());
    CHECK(mi.width == 77);
    CHECK(mi.height == 31);
  }
}

TEST_CASE("truncated and corrupt files are errors; garbage EXIF is a warning", "[exif]") {
  FACECAT_REQUIRE_TESTDATA("faces/deepface/Angelina/img1.jpg");
  test::TempDir t;
  auto src = util::read_file(test::testdata() / "faces/deepface/Angelina/img1.jpg");
  REQUIRE(src);
  // Truncated: half the file.
  REQUIRE(util::write_file_atomic(t.path / "half.jpg", src->substr(0, src->size() / 2)));
  CHECK(info_of(t.path / "half.jpg").error.find("truncated JPEG") != std::string::npos);
  // A trailer after the end marker (phones append data) is not truncation, even when it is large.
  REQUIRE(util::write_file_atomic(t.path / "trailer.jpg", *src + std::string(200000, 'x')));
  CHECK(info_of(t.path / "trailer.jpg").error.empty());
  // Truncated just before the end marker, with a trailer-sized tail of scan data: still truncated.
  REQUIRE(util::write_file_atomic(t.path / "nearly.jpg", src->substr(0, src->size() - 2)));
  CHECK(info_of(t.path / "nearly.jpg").error.find("truncated JPEG") != std::string::npos);
  // Cut inside the headers.
  REQUIRE(util::write_file_atomic(t.path / "tiny.jpg", src->substr(0, 100)));
  CHECK(info_of(t.path / "tiny.jpg").error.find("truncated JPEG") != std::string::npos);
  // Garbage EXIF offsets: overwrite IFD0's entry count and first entry offsets inside APP1.
  std::string bad = *src;
  auto app1 = bad.find(std::string("Exif\0\0", 6));
  REQUIRE(app1 != std::string::npos);
  size_t tiff = app1 + 6;
  bool le = bad[tiff] == 'I';
  // Offset of IFD0 -> point far outside the segment.
  std::string far = le ? std::string("\xF0\xFF\xFF\x7F", 4) : std::string("\x7F\xFF\xFF\xF0", 4);
  bad.replace(tiff + 4, 4, far);
  REQUIRE(util::write_file_atomic(t.path / "badexif.jpg", bad));
  auto mi = info_of(t.path / "badexif.jpg");
  CHECK(mi.error.empty());                 // still a usable image
  CHECK(mi.width == 1382);
  CHECK_FALSE(mi.warning.empty());         // but the EXIF problem is reported
  CHECK_FALSE(mi.exif.make);
}

TEST_CASE("video frame sizes from container headers agree with ffprobe; truncation is caught", "[container]") {
  FACECAT_REQUIRE_TESTDATA("video");
  if (!test::have("ffprobe")) {
    WARN("SKIPPED: ffprobe is not installed (scripts/setup installs ffmpeg)");
    std::exit(4);
  }
  int n = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(test::testdata() / "video")) {
    auto ext = e.path().extension().string();
    if (ext != ".mp4" && ext != ".mkv" && ext != ".avi") continue;
    auto probe = capture("ffprobe -v error -select_streams v:0 -show_entries stream=width,height -of csv=p=0 '" +
                         e.path().string() + "'");
    int w = 0, h = 0;
    REQUIRE(std::sscanf(probe.c_str(), "%d,%d", &w, &h) == 2);
    auto mi = info_of(e.path());
    INFO(e.path());
    CHECK(mi.type.kind == media::Kind::Video);
    CHECK(mi.error.empty());
    CHECK(mi.width == w);
    CHECK(mi.height == h);
    ++n;
  }
  CHECK(n >= 10);
  test::TempDir t;
  auto src = util::read_file(test::testdata() / "video/testvideo.mp4");
  REQUIRE(src);
  REQUIRE(util::write_file_atomic(t.path / "cut.mp4", src->substr(0, src->size() / 3)));
  CHECK(info_of(t.path / "cut.mp4").error.find("truncated MP4") != std::string::npos);
  REQUIRE(util::write_file_atomic(t.path / "cut.mkv", util::read_file(test::testdata() / "video/issue-236-split-copy.mkv")->substr(0, 300)));
  CHECK_FALSE(info_of(t.path / "cut.mkv").error.empty());
}
