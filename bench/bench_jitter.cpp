// bench-jitter: the cost and the descriptors of dlib's jitter (face::describe_jittered) and of flip test-time
// augmentation (face::describe_flipped) for scripts/eval-faces --jitter. Reads image paths on stdin; for the face
// nearest each image's centre (found as facecat-detect's default pipeline finds it: ultraface) prints one JSON line
// per variant: N (a number: jittered copies), "flip" (mean with the mirrored chip) or "flipn" (that mean rescaled
// to the two descriptors' mean length):
//   {"path", "n", "ms" (describing this face so), "descriptor": [128 numbers]}
//   bench-jitter 1,5,10,flip,flipn < paths.txt
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
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
  std::vector<std::string> ns;
  std::stringstream ss(argv[1]);
  for (std::string t; std::getline(ss, t, ',');) {
    if (t != "flip" && t != "flipn" && std::atoi(t.c_str()) < 1) {
      std::fprintf(stderr, "bench-jitter: '%s' is neither a number of copies nor flip or flipn\n", t.c_str());
      return 2;
    }
    ns.push_back(t);
  }
  AnalyzerConfig cfg;
  cfg.model.models_dir = std::getenv("FACECAT_MODELS_DIR") ? std::getenv("FACECAT_MODELS_DIR") : FACECAT_MODELS;
  auto a = FaceAnalyzer::create(cfg);
  if (!a) {
    std::fprintf(stderr, "bench-jitter: %s\n", a.error().message.c_str());
    return 1;
  }
  DetectParams p;
  p.detector = "ultraface";  // facecat-detect's default pipeline
  p.keep_chips = true;
  p.describe = false;  // the plain descriptor is variant 1 (describe_jittered with n = 1), timed like the others
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
    // flip and flipn share one run of the chip and its mirror (both report its time)
    std::optional<std::array<Descriptor, 2>> mirrored;
    double mirrored_ms = 0;
    for (const auto& n : ns) {
      auto t0 = std::chrono::steady_clock::now();
      facecat::Result<Descriptor> d = Descriptor{};
      double ms = 0;
      if (n == "flip" || n == "flipn") {
        if (!mirrored) {
          auto m = describe_mirrored(*a->encoder(), best->chip);
          if (!m) {
            std::fprintf(stderr, "bench-jitter: %s: %s\n", path.c_str(), m.error().message.c_str());
            return 1;
          }
          mirrored = *m;
          mirrored_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        }
        d = flip_mean((*mirrored)[0], (*mirrored)[1], n == "flipn");
        ms = mirrored_ms;
      } else {
        d = describe_jittered(*a->encoder(), best->chip, std::atoi(n.c_str()));
        ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      }
      if (!d) {
        std::fprintf(stderr, "bench-jitter: %s: %s\n", path.c_str(), d.error().message.c_str());
        return 1;
      }
      nlohmann::json out{{"path", path}, {"ms", ms}, {"descriptor", *d}};
      if (n == "flip" || n == "flipn") out["n"] = n;
      else out["n"] = std::atoi(n.c_str());
      std::printf("%s\n", out.dump().c_str());
    }
    std::fflush(stdout);
  }
  return 0;
}
