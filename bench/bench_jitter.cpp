// bench-jitter: the cost and the descriptors of dlib's jitter (face::describe_jittered) for scripts/eval-faces
// --jitter. Reads image paths on stdin; for the face nearest each image's centre prints one JSON line per N:
//   {"path", "n", "ms" (describing this face with N copies), "descriptor": [128 numbers]}
//   bench-jitter 1,5,10 < paths.txt
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "face/analyzer.hpp"
#include "face/jitter.hpp"

using namespace facecat::face;

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: bench-jitter N1,N2,... < paths\n");
    return 2;
  }
  std::vector<int> ns;
  std::stringstream ss(argv[1]);
  for (std::string t; std::getline(ss, t, ',');) ns.push_back(std::atoi(t.c_str()));
  AnalyzerConfig cfg;
  cfg.model.models_dir = std::getenv("FACECAT_MODELS_DIR") ? std::getenv("FACECAT_MODELS_DIR") : FACECAT_MODELS;
  auto a = FaceAnalyzer::create(cfg);
  if (!a) {
    std::fprintf(stderr, "bench-jitter: %s\n", a.error().message.c_str());
    return 1;
  }
  DetectParams p;
  p.keep_chips = true;
  for (std::string path; std::getline(std::cin, path);) {
    if (path.empty()) continue;
    auto r = a->analyze(path, p);
    if (!r || r->faces.empty()) {
      std::printf("%s\n", nlohmann::json{{"path", path}, {"faces", 0}}.dump().c_str());
      continue;
    }
    const Face* best = nullptr;
    double bd = 0;
    for (auto& f : r->faces) {
      double dx = (f.box.left + f.box.right) / 2.0 - r->width / 2.0, dy = (f.box.top + f.box.bottom) / 2.0 - r->height / 2.0;
      if (!best || dx * dx + dy * dy < bd) {
        best = &f;
        bd = dx * dx + dy * dy;
      }
    }
    for (int n : ns) {
      auto t0 = std::chrono::steady_clock::now();
      auto d = describe_jittered(*a->encoder(), best->chip, n);
      double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      if (!d) {
        std::fprintf(stderr, "bench-jitter: %s: %s\n", path.c_str(), d.error().message.c_str());
        return 1;
      }
      std::printf("%s\n", nlohmann::json{{"path", path}, {"n", n}, {"ms", ms}, {"descriptor", *d}}.dump().c_str());
    }
    std::fflush(stdout);
  }
  return 0;
}
