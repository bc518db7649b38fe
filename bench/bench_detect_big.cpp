// bench-detect-big: face_recognition's defaults (full decode, HOG with one upsampling over the whole image,
// describe every face) against facecat's pipeline on bench/big_6000x3376.jpg, each mode in its own process so that
// peak RSS is per mode. The ratio, RSS and recall (of the baseline's faces >= 2% of the long side) are printed for
// facecat's default, for each detector at the default's scale (hog, tiny+hog), and for a fixed min_face of 80 (the
// old default). Also ms per descriptor chip, dlib against OpenCV DNN, with 1 and 2 threads.
// BENCH_MODES="default tiny+hog describe" runs only those (the baseline always runs).
//   bench-detect-big [image]            run everything and print the ratios
//   bench-detect-big --mode NAME image  one mode (internal; prints one line)
#include <sys/resource.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <opencv2/core/utility.hpp>
#include <spdlog/spdlog.h>

#include "face/analyzer.hpp"

using namespace facecat::face;
namespace fs = std::filesystem;
using clk = std::chrono::steady_clock;

static double ms(clk::time_point a) { return std::chrono::duration<double, std::milli>(clk::now() - a).count(); }
static double cpu_ms() {  // user + system time of all threads so far
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e3 + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e3;
}
static long maxrss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss / 1024;
}

static void cv_threads(int n) { cv::setNumThreads(n); }

static DetectParams params_for(const std::string& mode) {
  DetectParams p;  // "default": facecat's defaults (min_face max(80 px, 2% of the long side))
  p.detector = "ultraface";  // faces.detector's default (DetectParams' own default is hog)
  if (mode == "baseline") {  // face_recognition: face_locations(img, 1) + face_encodings
    p.min_face = 80;
    p.min_face_fraction = 0;
    p.upsample = 1;
    p.reduced_decode = false;
    p.detector = "hog";
  } else if (mode == "fixed-80") {
    p.min_face = 80;  // the old default: no size-relative floor
    p.min_face_fraction = 0;
    p.detector = "hog";
  } else if (mode == "hog" || mode == "tiny+hog" || mode == "ultraface") {
    p.detector = mode;  // the default's scale, with this detector
  }
  return p;
}

static int run_mode(const std::string& mode, const fs::path& image) {
  if (std::getenv("BENCH_DEBUG")) spdlog::set_level(spdlog::level::debug);  // the pipeline's debug log on stderr
  AnalyzerConfig cfg;
  cfg.model.models_dir = std::getenv("FACECAT_MODELS_DIR") ? std::getenv("FACECAT_MODELS_DIR") : FACECAT_MODELS;
  if (mode == "baseline") cfg.model.backend = "dlib";  // face_recognition runs dlib's net
  auto t0 = clk::now();
  auto a = FaceAnalyzer::create(cfg);
  if (!a) {
    std::fprintf(stderr, "%s\n", a.error().message.c_str());
    return 1;
  }
  const double load_ms = ms(t0);
  if (mode == "describe") {
    DetectParams p;
    p.keep_chips = true;
    auto r2 = a->analyze(image, p);
    if (!r2 || r2->faces.empty()) return 1;
    std::vector<Chip> chips(32, r2->faces[0].chip);
    std::string line = "describe";
    for (const char* backend : {"dlib", "opencv"}) {
      ModelSpec spec = cfg.model;
      spec.backend = backend;
      auto e1 = load_encoder(spec);
      if (!e1) {
        std::fprintf(stderr, "%s\n", e1.error().message.c_str());
        return 1;
      }
      cv_threads(1);
      (void)e1->describe({chips[0]});  // warm-up
      auto t1 = clk::now();
      (void)e1->describe(chips, 8);
      const double one = ms(t1) / chips.size();
      Encoder e2 = *e1;  // two encoders, one per thread
      (void)e2.describe({chips[0]});
      auto t2 = clk::now();
      std::thread th([&] { (void)e2.describe(chips, 8); });
      (void)e1->describe(chips, 8);
      th.join();
      const double two = ms(t2) / (2 * chips.size());
      char buf[256];
      std::snprintf(buf, sizeof buf, " %s_1thread=%.2f %s_2threads=%.2f", backend, one, backend, two);
      line += buf;
      if (std::string(backend) == "opencv") {  // one chip per forward against batches of 8 and 32, one thread
        for (size_t b : {size_t(1), size_t(32)}) {
          auto t4 = clk::now();
          (void)e1->describe(chips, b);
          std::snprintf(buf, sizeof buf, " opencv_1thread_batch%zu=%.2f", b, ms(t4) / chips.size());
          line += buf;
        }
      }
      if (std::string(backend) == "opencv") {  // one encoder, OpenCV's own 2 threads over a batch
        cv_threads(2);
        auto t3 = clk::now();
        (void)e1->describe(chips, 8);
        std::snprintf(buf, sizeof buf, " opencv_1encoder_2cvthreads=%.2f", ms(t3) / chips.size());
        line += buf;
      }
    }
    std::printf("%s ms_per_chip\n", line.c_str());
    return 0;
  }
  const double c0 = cpu_ms();
  auto t1 = clk::now();
  auto r = a->analyze(image, params_for(mode));
  const double total = ms(t1), cpu = cpu_ms() - c0;
  if (!r) {
    std::fprintf(stderr, "%s\n", r.error().message.c_str());
    return 1;
  }
  std::printf("%s total_ms=%.1f cpu_ms=%.0f decode_ms=%.1f detect_ms=%.1f landmarks_ms=%.1f describe_ms=%.1f load_ms=%.0f "
              "maxrss_mb=%ld long_side=%d faces=%zu proposals=%d min_face=%d scale=%.3f red=%d/%d detector=%s backend=%s\n",
              mode.c_str(), total, cpu, r->decode_ms, r->detect_ms, r->landmarks_ms, r->describe_ms, load_ms, maxrss_mb(),
              std::max(r->width, r->height), r->faces.size(), r->proposals, r->min_face, r->detect_scale, r->detect_reduction,
              r->landmark_reduction, params_for(mode).detector.c_str(), a->encoder() ? a->encoder()->backend().c_str() : "-");
  for (auto& f : r->faces) std::printf("face %d %d %d %d\n", f.box.left, f.box.top, f.box.right, f.box.bottom);
  return 0;
}

struct ModeResult {
  double total = 0, cpu = 0;
  long rss = 0;
  std::vector<Box> faces;
  std::string line;
};

static ModeResult run_child(const std::string& self, const std::string& mode, const fs::path& image) {
  ModeResult m;
  std::string cmd = "'" + self + "' --mode " + mode + " '" + image.string() + "'";
  FILE* f = popen(cmd.c_str(), "r");
  if (!f) return m;
  char buf[4096];
  while (fgets(buf, sizeof buf, f)) {
    std::string l(buf);
    if (l.rfind("face ", 0) == 0) {
      Box b;
      std::sscanf(buf, "face %d %d %d %d", &b.left, &b.top, &b.right, &b.bottom);
      m.faces.push_back(b);
    } else {
      m.line = l;
      if (auto p = l.find("total_ms="); p != std::string::npos) m.total = std::atof(l.c_str() + p + 9);
      if (auto p = l.find("cpu_ms="); p != std::string::npos) m.cpu = std::atof(l.c_str() + p + 7);
      if (auto p = l.find("maxrss_mb="); p != std::string::npos) m.rss = std::atol(l.c_str() + p + 10);
    }
  }
  pclose(f);
  return m;
}

int main(int argc, char** argv) {
  if (argc >= 4 && std::string(argv[1]) == "--mode") return run_mode(argv[2], argv[3]);
  fs::path image = argc >= 2 ? fs::path(argv[1]) : fs::path(FACECAT_TESTDATA) / "bench/big_6000x3376.jpg";
  if (!fs::exists(image)) {
    std::fprintf(stderr, "no bench image %s\n", image.c_str());
    return 4;
  }
  const std::string self = fs::canonical("/proc/self/exe").string();
  double load1 = 0, load5 = 0;
  if (FILE* la = std::fopen("/proc/loadavg", "r")) {
    if (std::fscanf(la, "%lf %lf", &load1, &load5) != 2) load1 = load5 = 0;
    std::fclose(la);
  }
  std::printf("load average at start: %.2f (1 min), %.2f (5 min) on %u cores\n", load1, load5,
              std::thread::hardware_concurrency());
  auto base = run_child(self, "baseline", image);
  std::printf("%s", base.line.c_str());
  // faces at least 2% of the long side (120 px for 6000x3376): the long side from the baseline's line
  int long_side = 6000;
  if (auto p = base.line.find("long_side="); p != std::string::npos) long_side = std::atoi(base.line.c_str() + p + 10);
  const int min_size = int(std::lround(0.02 * long_side));
  std::vector<Box> ref;
  for (auto& b : base.faces)
    if (std::max(b.width(), b.height()) >= min_size) ref.push_back(b);
  const char* only = std::getenv("BENCH_MODES");  // e.g. "default hog": run only these facecat modes
  for (const char* mode : {"default", "hog", "tiny+hog", "ultraface", "fixed-80"}) {
    if (only && (" " + std::string(only) + " ").find(" " + std::string(mode) + " ") == std::string::npos) continue;
    auto m = run_child(self, mode, image);
    int found = 0;
    for (auto& b : ref) {
      const double cx = (b.left + b.right) / 2.0, cy = (b.top + b.bottom) / 2.0;
      for (auto& c : m.faces)
        if (std::abs((c.left + c.right) / 2.0 - cx) < 0.3 * b.width() &&
            std::abs((c.top + c.bottom) / 2.0 - cy) < 0.3 * b.height()) {
          ++found;
          break;
        }
    }
    std::printf("%s", m.line.c_str());
    std::printf("  => %s: %.1fx faster than baseline (wall), %.1fx less CPU time, peak RSS %ld MB (baseline %ld MB), "
                "found %d of the baseline's %zu faces >= %d px\n",
                mode, m.total > 0 ? base.total / m.total : 0.0, m.cpu > 0 ? base.cpu / m.cpu : 0.0, m.rss, base.rss,
                found, ref.size(), min_size);
  }
  if (!only || std::string(only).find("describe") != std::string::npos) {
    auto d = run_child(self, "describe", image);
    std::printf("%s", d.line.c_str());
  }
  return 0;
}
