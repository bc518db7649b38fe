// bench-detect-big: face_recognition's defaults (full decode, HOG with one upsampling over the whole image,
// describe every face) against facecat's pipeline on bench/big_6000x3376.jpg, each mode in its own process so that
// peak RSS is per mode. Also ms per descriptor chip with 1 and 2 threads.
//   bench-detect-big [image]            run everything and print the ratios
//   bench-detect-big --mode NAME image  one mode (internal; prints one line)
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "face/analyzer.hpp"

using namespace facecat::face;
namespace fs = std::filesystem;
using clk = std::chrono::steady_clock;

static double ms(clk::time_point a) { return std::chrono::duration<double, std::milli>(clk::now() - a).count(); }
static long maxrss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss / 1024;
}

static DetectParams params_for(const std::string& mode) {
  DetectParams p;
  if (mode == "baseline") {  // face_recognition: face_locations(img, 1) + face_encodings
    p.min_face = 80;
    p.upsample = 1;
    p.reduced_decode = false;
  } else if (mode == "facecat-80") {
    p.min_face = 80;  // config default faces.min_face
  } else if (mode == "facecat-120") {
    p.min_face = 120;  // 2% of the long side
  } else if (mode == "facecat-320") {
    p.min_face = 320;
  }
  return p;
}

static int run_mode(const std::string& mode, const fs::path& image) {
  AnalyzerConfig cfg;
  cfg.model.models_dir = std::getenv("FACECAT_MODELS_DIR") ? std::getenv("FACECAT_MODELS_DIR") : FACECAT_MODELS;
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
    (void)a->encoder()->describe({chips[0]});  // warm-up
    auto t1 = clk::now();
    (void)a->encoder()->describe(chips, 8);
    const double one = ms(t1) / chips.size();
    Encoder e2 = *a->encoder();
    auto t2 = clk::now();
    std::thread th([&] { (void)e2.describe(chips, 8); });
    (void)a->encoder()->describe(chips, 8);
    th.join();
    const double two = ms(t2) / (2 * chips.size());
    std::printf("describe ms_per_chip_1thread=%.2f ms_per_chip_2threads=%.2f\n", one, two);
    return 0;
  }
  auto t1 = clk::now();
  auto r = a->analyze(image, params_for(mode));
  const double total = ms(t1);
  if (!r) {
    std::fprintf(stderr, "%s\n", r.error().message.c_str());
    return 1;
  }
  std::printf("%s total_ms=%.1f decode_ms=%.1f detect_ms=%.1f landmarks_ms=%.1f describe_ms=%.1f load_ms=%.0f "
              "maxrss_mb=%ld faces=%zu red=%d/%d\n",
              mode.c_str(), total, r->decode_ms, r->detect_ms, r->landmarks_ms, r->describe_ms, load_ms, maxrss_mb(),
              r->faces.size(), r->detect_reduction, r->landmark_reduction);
  for (auto& f : r->faces) std::printf("face %d %d %d %d\n", f.box.left, f.box.top, f.box.right, f.box.bottom);
  return 0;
}

struct ModeResult {
  double total = 0;
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
  auto base = run_child(self, "baseline", image);
  std::printf("%s", base.line.c_str());
  std::vector<Box> ref;
  for (auto& b : base.faces)
    if (std::max(b.width(), b.height()) >= 120) ref.push_back(b);
  for (const char* mode : {"facecat-80", "facecat-120", "facecat-320"}) {
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
    std::printf("  => %s: %.1fx faster than baseline, peak RSS %ld MB (baseline %ld MB), found %d of the baseline's "
                "%zu faces >= 120 px\n",
                mode, m.total > 0 ? base.total / m.total : 0.0, m.rss, base.rss, found, ref.size());
  }
  auto d = run_child(self, "describe", image);
  std::printf("%s", d.line.c_str());
  return 0;
}
