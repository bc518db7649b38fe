// video::Decoder on the shared test clips: timestamps (VFR), seeking back to exact frames, rotation, bad input.
#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include "video/decoder.hpp"
#include "video/scenes.hpp"

using namespace facecat::video;
namespace fs = std::filesystem;

namespace {

fs::path video_dir() {
  const char* e = std::getenv("FACECAT_TESTDATA");
  return fs::path(e ? e : FACECAT_TESTDATA) / "video";
}

fs::path clip(const std::string& name) {
  auto p = video_dir() / name;
  if (!fs::exists(p)) {
    std::fprintf(stderr, "SKIPPED: test clip %s is absent\n", p.c_str());
    std::exit(4);  // ctest: skipped
  }
  return p;
}

struct Decoded {
  std::vector<FrameStamp> stamps;
};

Decoded decode_all(Decoder& d) {
  Decoded r;
  FrameStamp st;
  cv::Mat small;
  d.set_output_size({64, 36});
  while (d.next(st, &small)) r.stamps.push_back(st);
  return r;
}

}  // namespace

TEST_CASE("decoder: frame count, CFR timestamps, frames fetched again by seeking are identical", "[video]") {
  auto d = Decoder::open(clip("counter.mp4"));
  REQUIRE(d.ok());
  auto& dec = **d;
  CHECK(dec.info().width == 1920);
  CHECK(dec.info().rotation == 0);
  CHECK(dec.info().declared_frames == 30);
  auto all = decode_all(dec);
  REQUIRE(all.stamps.size() == 30);
  for (size_t i = 0; i < all.stamps.size(); ++i) CHECK(all.stamps[i].time == Approx(i / 10.0).margin(1e-6));
  CHECK(dec.pts_reliable());

  // Forward, frame by frame, from a fresh decoder...
  auto f = Decoder::open(clip("counter.mp4"));
  REQUIRE(f.ok());
  std::vector<cv::Mat> forward;
  for (size_t i = 0; i < 30; ++i) {
    auto m = (*f)->frame_at(all.stamps[i].pts, static_cast<int64_t>(i));
    REQUIRE(m.ok());
    forward.push_back(*m);
  }
  // ...and in random order, seeking back and forth on the decoder that has reached the end.
  for (int i : {17, 3, 29, 0, 12, 11, 25}) {
    auto m = dec.frame_at(all.stamps[static_cast<size_t>(i)].pts, i);
    REQUIRE(m.ok());
    REQUIRE(m->size() == cv::Size(1920, 1080));
    CHECK(cv::norm(*m, forward[static_cast<size_t>(i)], cv::NORM_INF) == 0);
  }
  // Neighbouring frames differ (each shows its own number), so the comparison above can fail.
  CHECK(cv::norm(forward[11], forward[12], cv::NORM_INF) > 0);
}

TEST_CASE("decoder: video frames kept during the pass are those seeking fetches; the budget holds", "[video]") {
  auto d = Decoder::open(clip("counter.mp4"));
  REQUIRE(d.ok());
  auto& dec = **d;
  dec.set_retain(size_t{1} << 30);
  auto all = decode_all(dec);
  REQUIRE(all.stamps.size() == 30);
  dec.release_retained_before(10);
  CHECK_FALSE(dec.is_retained(9));
  CHECK(dec.retained_frame(9).empty());
  auto f = Decoder::open(clip("counter.mp4"));
  REQUIRE(f.ok());
  for (int i : {10, 11, 20, 29}) {
    REQUIRE(dec.is_retained(i));
    cv::Mat kept = dec.retained_frame(i);
    auto m = (*f)->frame_at(all.stamps[static_cast<size_t>(i)].pts, i);
    REQUIRE(m.ok());
    REQUIRE(kept.size() == m->size());
    CHECK(cv::norm(kept, *m, cv::NORM_INF) == 0);
  }
  // A budget of about 4 frames (1920x1080 4:2:0 is ~3 MB a frame): only the first few are kept.
  auto small = Decoder::open(clip("counter.mp4"));
  REQUIRE(small.ok());
  (*small)->set_retain(size_t{13} << 20);
  decode_all(**small);
  CHECK((*small)->is_retained(0));
  CHECK_FALSE((*small)->is_retained(29));
}

// The analysis frames against an independent reference: OpenCV's own read() (full-resolution BGR) scaled with
// cv::resize, as PySceneDetect computes them. The decoder scales the planes first (chroma to half the analysis
// size, for swscale's SIMD 4:2:0 path) and converts the small frame, so values differ by a level or two at
// colour edges (measured: mean 0.1-2.0, worst frame 1.2-3.5 levels per channel); a wrong matrix, range or
// chroma order differs by tens.
static void compare_analysis_frames(const fs::path& path, cv::Size size) {
  auto d = Decoder::open(path);
  REQUIRE(d.ok());
  auto& dec = **d;
  dec.set_output_size(size);
  cv::VideoCapture cap(path.string(), cv::CAP_FFMPEG);
  REQUIRE(cap.isOpened());
  FrameStamp st;
  cv::Mat small, luma, full, ref, gray, expected, diff;
  double worst = 0, sum = 0, worst_luma = 0;
  int n = 0;
  while (dec.next(st, &small, &luma)) {
    REQUIRE(cap.read(full));
    REQUIRE(small.size() == size);
    REQUIRE(small.type() == CV_8UC3);
    REQUIRE(small.isContinuous());
    REQUIRE(luma.size() == size);
    cv::resize(full, ref, size, 0, 0, cv::INTER_LINEAR);
    cv::absdiff(small, ref, diff);
    const cv::Scalar m = cv::mean(diff);
    const double w = std::max({m[0], m[1], m[2]});
    worst = std::max(worst, w);
    sum += w;
    // The luma plane is the frame's brightness: video range (16-235) against the full-range grey.
    cv::cvtColor(ref, gray, cv::COLOR_BGR2GRAY);
    gray.convertTo(expected, CV_8U, 219.0 / 255.0, 16.0);
    cv::absdiff(luma, expected, diff);
    worst_luma = std::max(worst_luma, cv::mean(diff)[0]);
    ++n;
  }
  REQUIRE(n > 0);
  INFO(path.filename().string() << " " << size << ", " << n << " frames: mean difference " << sum / n
                                << ", worst frame " << worst << ", worst luma " << worst_luma);
  CHECK(sum / n < 2.5);
  CHECK(worst < 4.5);
  CHECK(worst_luma < 2.0);
}

TEST_CASE("decoder: analysis frames agree with OpenCV's read() scaled down, for even and odd heights", "[video]") {
  compare_analysis_frames(clip("counter.mp4"), {256, 144});
  compare_analysis_frames(clip("counter.mp4"), {255, 143});
  // 704x576 at the analysis size PySceneDetect uses: 256x209, an odd height.
  REQUIRE(Decoder::analysis_size(704, 576) == cv::Size(256, 209));
  compare_analysis_frames(clip("issue-195-aspect-ratio.mp4"), {256, 209});
  compare_analysis_frames(clip("testvideo.mp4"), {256, 144});
  // Megamind.avi is MPEG-4 Part 2 in AVI.
  compare_analysis_frames(video_dir() / "opencv-samples" / "Megamind.avi", {256, 188});
}

TEST_CASE("analysis: ready frames beyond jpeg_memory go to an unnamed spill file and come back byte for byte",
          "[video]") {
  const auto path = clip("testvideo.mp4");
  const auto tmp = fs::temp_directory_path() / ("facecat-spill-test-" + std::to_string(::getpid()));
  fs::remove_all(tmp);
  fs::create_directories(tmp / "spill");
  struct Run {
    int64_t spilled = 0;
    size_t ready = 0;
    std::vector<std::string> hashes;
  };
  auto run = [&](bool spill) {
    Options o;
    o.keep_frames = true;
    o.frames_per_scene = 6;
    o.jpeg_memory = size_t{1} << 20;  // a few 720p JPEGs in memory, the rest in the spill file
    if (spill) o.spill_dir = tmp / "spill";
    auto d = Decoder::open(path);
    REQUIRE(d.ok());
    auto a = analyze(**d, o);
    REQUIRE(a.ok());
    auto picks = pick_frames(*a, o.frames_per_scene, o.black_level, o.blur_ratio);
    auto saved = save_frames(**d, picks, tmp / (spill ? "a" : "b"), "clip", static_cast<int>(a->scenes.size()),
                             o.jpeg_quality, &a->ready);
    REQUIRE(saved.ok());
    Run r;
    r.spilled = a->spilled;
    r.ready = a->ready.size();
    for (const auto& f : *saved) r.hashes.push_back(f.hash);
    return r;
  };
  const Run spilled = run(true), in_memory = run(false);
  CHECK(spilled.spilled > 0);
  CHECK(spilled.spilled < static_cast<int64_t>(spilled.ready));  // the first ones stayed in memory
  CHECK(in_memory.spilled == 0);
  CHECK(spilled.ready == in_memory.ready);
  REQUIRE(spilled.hashes.size() >= 20);
  CHECK(spilled.hashes == in_memory.hashes);
  // The spill file had no name: nothing is left in its folder.
  CHECK(fs::is_empty(tmp / "spill"));
  fs::remove_all(tmp);
}

TEST_CASE("decoder: variable frame rate is timed by PTS", "[video]") {
  auto d = Decoder::open(clip("goldeneye-vfr-drop3.mp4"));
  REQUIRE(d.ok());
  auto all = decode_all(**d);
  REQUIRE(all.stamps.size() == 160);
  CHECK(all.stamps[60].time == Approx(3.754).margin(0.001));
  CHECK(all.stamps[140].time == Approx(8.759).margin(0.001));
  // The average rate would put frame 60 at 60/16.05 = 3.74 s and frame 140 at 8.72 s: wrong by a frame or more.
  CHECK(std::abs(all.stamps[140].time - 140 / (*d)->info().fps) > 0.03);
}

TEST_CASE("decoder: rotation metadata is applied as ffmpeg does", "[video]") {
  auto d = Decoder::open(clip("issue-134-rotate.mp4"));
  REQUIRE(d.ok());
  auto& dec = **d;
  CHECK(dec.info().rotation == 90);
  CHECK(dec.info().display_width() == 544);
  CHECK(dec.info().display_height() == 1280);
  auto all = decode_all(dec);
  REQUIRE(all.stamps.size() == 240);
  auto m = dec.frame_at(all.stamps[100].pts, 100);
  REQUIRE(m.ok());
  CHECK(m->cols == 544);
  CHECK(m->rows == 1280);
}

TEST_CASE("decoder: anamorphic video is saved with square pixels", "[video]") {
  auto d = Decoder::open(clip("issue-195-aspect-ratio.mp4"));
  REQUIRE(d.ok());
  CHECK((*d)->info().width == 704);
  CHECK((*d)->info().display_width() == 1024);
  CHECK((*d)->info().display_height() == 576);
}

TEST_CASE("decoder: files that are not video say why", "[video]") {
  auto tmp = fs::temp_directory_path() / ("facecat-video-test-" + std::to_string(::getpid()));
  fs::create_directories(tmp);
  {
    std::ofstream(tmp / "text.mp4") << "this is not a video at all, just some text that is long enough";
  }
  auto r = Decoder::open(tmp / "text.mp4");
  REQUIRE_FALSE(r.ok());
  CHECK_FALSE(r.error().message.empty());
  auto missing = Decoder::open(tmp / "missing.mp4");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().message.find("No such file") != std::string::npos);
  fs::remove_all(tmp);
}

TEST_CASE("analysis: tree.avi's header claims 444 frames but 68 decode: a clear error", "[video]") {
  auto d = Decoder::open(clip("opencv-samples/tree.avi"));
  REQUIRE(d.ok());
  CHECK((*d)->info().declared_frames == 444);
  auto a = analyze(**d, Options{});
  REQUIRE_FALSE(a.ok());
  CHECK(a.error().message.find("68 of the 444") != std::string::npos);
}
