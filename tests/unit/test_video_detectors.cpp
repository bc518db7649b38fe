// Detector logic on synthetic frame sequences and score streams (video/detectors, video/scenes).
#include <catch2/catch.hpp>

#include <opencv2/imgproc.hpp>

#include "video/decoder.hpp"
#include "video/detectors.hpp"
#include "video/scenes.hpp"

using namespace facecat::video;

namespace {

// A textured frame of one "shot": smooth noise in a base colour, shifted a little per frame (motion).
cv::Mat shot_frame(int shot, int t, cv::Size size = {256, 144}) {
  static const cv::Scalar colours[] = {{40, 90, 200}, {200, 120, 30}, {60, 200, 60}, {150, 40, 160}};
  cv::Mat f(size, CV_8UC3, colours[shot % 4]);
  cv::RNG rng(static_cast<uint64_t>(1000 + shot));
  for (int i = 0; i < 40; ++i) {
    cv::Point c(rng.uniform(0, size.width) + t, rng.uniform(0, size.height));
    cv::Scalar col(rng.uniform(0, 255), rng.uniform(0, 255), rng.uniform(0, 255));
    cv::circle(f, c, rng.uniform(5, 30), col, cv::FILLED);
  }
  return f;
}

std::vector<int64_t> run(Detector& d, const std::vector<cv::Mat>& frames) {
  std::vector<int64_t> cuts;
  for (size_t i = 0; i < frames.size(); ++i)
    for (int64_t c : d.process(static_cast<int64_t>(i), frames[i])) cuts.push_back(c);
  for (int64_t c : d.post_process(static_cast<int64_t>(frames.size()) - 1)) cuts.push_back(c);
  return cuts;
}

// Shots as (shot id, length) → frames.
std::vector<cv::Mat> sequence(const std::vector<std::pair<int, int>>& shots) {
  std::vector<cv::Mat> out;
  for (auto [id, len] : shots)
    for (int t = 0; t < len; ++t) out.push_back(shot_frame(id, t));
  return out;
}

std::vector<int64_t> filter_all(FlashFilter& f, int n, const std::vector<int64_t>& above) {
  std::vector<int64_t> out;
  for (int i = 0; i < n; ++i) {
    bool a = std::find(above.begin(), above.end(), i) != above.end();
    for (int64_t c : f.filter(i, a)) out.push_back(c);
  }
  return out;
}

}  // namespace

TEST_CASE("content score: HSV mean absolute difference, weighted", "[video]") {
  ContentScorer s;
  cv::Mat red(32, 32, CV_8UC3, cv::Scalar(0, 0, 255)), blue(32, 32, CV_8UC3, cv::Scalar(255, 0, 0));
  CHECK(s.score(red) == 0.0);                       // first frame
  CHECK(s.score(red) == 0.0);                       // identical
  CHECK(s.score(blue) == Approx(120.0 / 3));        // hue 0 → 120 (OpenCV's 0..180 hue), S and V equal
  cv::Mat g100(32, 32, CV_8UC3, cv::Scalar::all(100)), g150(32, 32, CV_8UC3, cv::Scalar::all(150));
  ContentScorer s2;
  (void)s2.score(g100);
  CHECK(s2.score(g150) == Approx(50.0 / 3));        // only V changes
  ContentScorer luma_only(HsvWeights{0, 0, 1});
  (void)luma_only.score(red);
  CHECK(luma_only.score(blue) == 0.0);              // same V
  CHECK(frame_average(g150) == Approx(150.0));
}

TEST_CASE("flash filter: merge and suppress semantics", "[video]") {
  SECTION("no cut closer than min_scene_len to the start (Megamind's black frame 0)") {
    FlashFilter f(FlashFilter::Mode::Merge, 15);
    CHECK(filter_all(f, 100, {1}).empty());
  }
  SECTION("a single cut") {
    FlashFilter f(FlashFilter::Mode::Merge, 15);
    CHECK(filter_all(f, 100, {30}) == std::vector<int64_t>{30});
  }
  SECTION("a flash right after a cut is merged away") {
    FlashFilter f(FlashFilter::Mode::Merge, 15);
    CHECK(filter_all(f, 100, {30, 35}) == std::vector<int64_t>{30});
  }
  SECTION("a long burst becomes one cut on its last frame, once the burst is over") {
    FlashFilter f(FlashFilter::Mode::Merge, 15);
    CHECK(filter_all(f, 120, {30, 35, 40, 45, 50}) == std::vector<int64_t>{30, 50});
  }
  SECTION("suppress: later cuts wait until min_scene_len has passed") {
    FlashFilter f(FlashFilter::Mode::Suppress, 15);
    CHECK(filter_all(f, 100, {30, 35, 50}) == std::vector<int64_t>{30, 50});
  }
  SECTION("length 0 disables the filter") {
    FlashFilter f(FlashFilter::Mode::Merge, 0);
    CHECK(filter_all(f, 10, {1, 2}) == std::vector<int64_t>{1, 2});
  }
}

TEST_CASE("content detector: cuts at the first frame of each new shot", "[video]") {
  auto frames = sequence({{0, 40}, {1, 35}, {2, 50}});
  ContentDetector d;
  CHECK(run(d, frames) == std::vector<int64_t>{40, 75});
}

TEST_CASE("content detector: a shot shorter than min_scene_len is merged, not split", "[video]") {
  auto frames = sequence({{0, 40}, {1, 20}, {2, 5}, {3, 40}});
  ContentDetector d;  // 60 and 65 are 5 frames apart: the second is merged away
  CHECK(run(d, frames) == std::vector<int64_t>{40, 60});
  ContentParams p;
  p.min_scene_len = 0;
  ContentDetector all(p);
  CHECK(run(all, frames) == std::vector<int64_t>{40, 60, 65});
}

TEST_CASE("content detector: threshold is >=, and a brightness ramp is not a cut", "[video]") {
  ContentParams p;
  p.threshold = 10;
  ContentDetector d(p);
  std::vector<int64_t> cuts;
  for (int i = 0; i < 100; ++i) {  // grey ramp: V rises 2 per frame → score 0.67
    cv::Mat g(16, 16, CV_8UC3, cv::Scalar::all(20 + 2 * i));
    for (auto c : d.process(i, g)) cuts.push_back(c);
  }
  CHECK(cuts.empty());
  ContentDetector s;
  CHECK(s.process_score(0, 0).empty());
  CHECK(s.process_score(20, 27.0) == std::vector<int64_t>{20});  // exactly the threshold counts
}

TEST_CASE("adaptive detector: ratio to the neighbours, reported window_width frames late", "[video]") {
  AdaptiveDetector d;
  std::vector<int64_t> cuts;
  std::vector<int64_t> reported_at;
  for (int i = 0; i < 100; ++i) {
    double score = i == 0 ? 0 : (i == 40 ? 60.0 : 2.0);
    auto c = d.process_score(i, score);
    if (!c.empty()) reported_at.push_back(i);
    cuts.insert(cuts.end(), c.begin(), c.end());
  }
  CHECK(cuts == std::vector<int64_t>{40});
  CHECK(reported_at == std::vector<int64_t>{42});

  // Fast camera motion: every frame scores high. ContentDetector (suppress mode) cuts repeatedly; adaptive does not.
  AdaptiveDetector a;
  ContentParams cp;
  cp.filter_mode = FlashFilter::Mode::Suppress;
  ContentDetector c(cp);
  std::vector<int64_t> ac, cc;
  for (int i = 0; i < 100; ++i) {
    double score = i == 0 ? 0 : 35.0 + (i % 3);
    for (auto x : a.process_score(i, score)) ac.push_back(x);
    for (auto x : c.process_score(i, score)) cc.push_back(x);
  }
  CHECK(ac.empty());
  CHECK(cc.size() > 3);

  // On real frames: same cuts as the content detector for clean hard cuts.
  AdaptiveDetector r;
  CHECK(run(r, sequence({{0, 30}, {1, 30}, {2, 30}})) == std::vector<int64_t>{30, 60});
}

TEST_CASE("threshold detector: a cut in the middle of each black stretch", "[video]") {
  auto feed = [](ThresholdDetector& d, const std::vector<std::pair<double, int>>& runs) {
    std::vector<int64_t> cuts;
    int64_t f = 0;
    for (auto [avg, len] : runs)
      for (int i = 0; i < len; ++i, ++f)
        for (auto c : d.process_average(f, avg)) cuts.push_back(c);
    for (auto c : d.post_process(f - 1)) cuts.push_back(c);
    return cuts;
  };
  ThresholdDetector a;
  CHECK(feed(a, {{100, 40}, {3, 10}, {100, 40}}) == std::vector<int64_t>{45});   // out at 40, in at 50
  ThresholdDetector b;  // starts black (testvideo: black 0..29 → cut 15)
  CHECK(feed(b, {{0, 30}, {100, 40}}) == std::vector<int64_t>{15});
  ThresholdDetector c;  // starts black, too short for min_scene_len
  CHECK(feed(c, {{0, 10}, {100, 40}}).empty());
  ThresholdParams p;
  p.add_final_scene = true;
  ThresholdDetector e(p);  // ends on a fade-out: a final cut where it went black
  CHECK(feed(e, {{100, 40}, {0, 20}}) == std::vector<int64_t>{40});
  ThresholdDetector f;
  cv::Mat black(8, 8, CV_8UC3, cv::Scalar::all(5)), grey(8, 8, CV_8UC3, cv::Scalar::all(128));
  std::vector<cv::Mat> frames;
  for (int i = 0; i < 30; ++i) frames.push_back(grey);
  for (int i = 0; i < 6; ++i) frames.push_back(black);
  for (int i = 0; i < 30; ++i) frames.push_back(grey);
  CHECK(run(f, frames) == std::vector<int64_t>{33});
}

TEST_CASE("analysis size follows PySceneDetect (long side 256, rounded, no upscaling)", "[video]") {
  CHECK(Decoder::analysis_size(1280, 720) == cv::Size(256, 144));
  CHECK(Decoder::analysis_size(1920, 1080) == cv::Size(256, 144));
  CHECK(Decoder::analysis_size(1280, 544) == cv::Size(256, 109));
  CHECK(Decoder::analysis_size(720, 528) == cv::Size(256, 188));
  CHECK(Decoder::analysis_size(544, 1280) == cv::Size(109, 256));
  CHECK(Decoder::analysis_size(200, 100) == cv::Size(200, 100));
}

TEST_CASE("scenes from cuts, timed by timestamps (VFR)", "[video]") {
  std::vector<double> times;
  for (int i = 0; i < 10; ++i) times.push_back(i < 5 ? i * 0.1 : 0.5 + (i - 5) * 0.25);  // rate changes at 5
  auto s = make_scenes({0, 5, 5, 12}, 10, times, 1.75);  // 0, duplicates and out-of-range cuts are ignored
  REQUIRE(s.size() == 2);
  CHECK(s[0].start_frame == 0);
  CHECK(s[0].end_frame == 5);
  CHECK(s[0].end_time == Approx(0.5));
  CHECK(s[1].start_time == Approx(0.5));
  CHECK(s[1].end_frame == 10);
  CHECK(s[1].end_time == Approx(1.75));
  CHECK(make_scenes({}, 0, {}, 0).empty());
}

TEST_CASE("timecodes and the list-scenes CSV", "[video]") {
  CHECK(timecode(3.75375) == "00:00:03.754");
  CHECK(timecode(3661.5) == "01:01:01.500");
  CHECK(timecode(-1) == "00:00:00.000");
  Analysis a;
  a.frames = 60;
  for (int i = 0; i < 60; ++i) a.times.push_back(i / 30.0);
  a.end_time = 2.0;
  a.scenes = make_scenes({30}, 60, a.times, a.end_time);
  auto csv = scenes_csv(a);
  CHECK(csv ==
        "Timecode List:,00:00:01.000\n"
        "Scene Number,Start Frame,Start Timecode,Start Time (seconds),End Frame,End Timecode,End Time (seconds),"
        "Length (frames),Length (timecode),Length (seconds)\n"
        "1,1,00:00:00.000,0.000,30,00:00:01.000,1.000,30,00:00:01.000,1.000\n"
        "2,31,00:00:01.000,1.000,60,00:00:02.000,2.000,30,00:00:01.000,1.000\n");
  a.info.nominal_fps = 30;
  auto edl = scenes_edl(a, "clip");
  CHECK(edl.find("TITLE: clip\nFCM: NON-DROP FRAME\n") == 0);
  CHECK(edl.find("002  AX V     C        00:00:01:00 00:00:02:00 00:00:01:00 00:00:02:00\n") != std::string::npos);
}

TEST_CASE("frame picking: middle by timestamp; black or blurred middles are replaced", "[video]") {
  Analysis a;
  a.frames = 100;
  for (int i = 0; i < 100; ++i) {
    a.pts.push_back(i * 10);
    a.times.push_back(i < 50 ? i * 0.04 : 2.0 + (i - 50) * 0.08);  // VFR: the second half is slower
    a.brightness.push_back(100);
    a.sharpness.push_back(100);
    a.content.push_back(0);
  }
  a.end_time = 2.0 + 50 * 0.08;
  a.scenes = make_scenes({50}, 100, a.times, a.end_time);
  SECTION("middle") {
    auto p = pick_frames(a, 1, 12, 0.5);
    REQUIRE(p.size() == 2);
    CHECK(p[0].frame == 25);
    CHECK(p[0].reason == "middle");
    CHECK(p[1].frame == 75);  // 2.0 + (6.0-2.0)/2 = 4.0 s = frame 75
    CHECK(p[1].time == Approx(4.0));
  }
  SECTION("black middle → the sharpest non-black frame nearby") {
    for (int i = 20; i < 30; ++i) a.brightness[static_cast<size_t>(i)] = 3;
    a.sharpness[31] = 150;
    auto p = pick_frames(a, 1, 12, 0.5);
    CHECK(p[0].frame == 31);
    CHECK(p[0].reason == "sharpest");
  }
  SECTION("blurred middle") {
    a.sharpness[25] = 20;
    a.sharpness[18] = 300;
    auto p = pick_frames(a, 1, 12, 0.5);
    CHECK(p[0].frame == 18);
    a.sharpness[18] = 100;  // 20 vs 100: below half the sharpest → replaced by a sharp one
    p = pick_frames(a, 1, 12, 0.5);
    CHECK(p[0].frame != 25);
    CHECK(a.sharpness[static_cast<size_t>(p[0].frame)] == 100);
  }
  SECTION("all black → kept, marked black") {
    for (int i = 0; i < 50; ++i) a.brightness[static_cast<size_t>(i)] = 0;
    auto p = pick_frames(a, 1, 12, 0.5);
    CHECK(p[0].frame == 25);
    CHECK(p[0].reason == "black");
  }
  SECTION("N per scene at evenly spaced times, in frame order") {
    auto p = pick_frames(a, 2, 12, 0.5);
    REQUIRE(p.size() == 4);
    CHECK(p[0].frame == 12);  // 0.5 s → frame 12 (0.48 s)
    CHECK(p[1].frame == 37);  // 1.5 s → frame 37 (1.48 s)
    CHECK(p[1].n == 2);
    CHECK(p[2].frame == 62);  // 3.0 s
    CHECK(p[3].frame == 87);  // 5.0 s
  }
}

TEST_CASE("detector names parse; bad ones are usage errors", "[video]") {
  auto d = parse_detectors("content, threshold");
  REQUIRE(d.ok());
  CHECK(d->size() == 2);
  auto bad = parse_detectors("contnt");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().code == 2);
  CHECK_FALSE(parse_detectors("").ok());
}
