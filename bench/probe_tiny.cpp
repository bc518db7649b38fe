// probe-tiny: measurements behind the tiny+hog detector (bench/README.md), run by hand.
//   probe-tiny raw IMAGE SIZE          resize IMAGE to SIZE×SIZE, write IMAGE-derived .rgb (raw RGB) and .out (raw
//                                      net output, float32 NCHW) under /tmp, print the detections (score ≥ 0.3):
//                                      the same .rgb through face-api.js gives the reference
//   probe-tiny minface DIR...          HOG faces (≥ 80 px) of every photo under DIR, each photo shrunk so that the
//                                      face's HOG box is T px: how often the tiny detector finds it, per T, and
//                                      the ratio of its box to HOG's
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <string>
#include <vector>

#include "face/analyzer.hpp"
#include "face/tiny_detector.hpp"

using namespace facecat::face;
namespace fs = std::filesystem;

static std::string models() {
  return std::getenv("FACECAT_MODELS_DIR") ? std::getenv("FACECAT_MODELS_DIR") : FACECAT_MODELS;
}

int main(int argc, char** argv) {
  if (argc < 3) return 2;
  auto tiny = detail::TinyDetector::load(detail::tiny_detector_manifest_path(models()), detail::tiny_detector_bin_path(models()));
  if (!tiny) {
    std::fprintf(stderr, "%s\n", tiny.error().message.c_str());
    return 1;
  }
  const std::string cmd = argv[1];
  if (cmd == "raw" && argc >= 4) {
    const int S = std::atoi(argv[3]);
    cv::Mat img = cv::imread(argv[2]), r;
    cv::resize(img, r, cv::Size(S, S), 0, 0, cv::INTER_AREA);
    cv::Mat rgb;
    cv::cvtColor(r, rgb, cv::COLOR_BGR2RGB);
    std::ofstream("/tmp/probe-tiny.rgb", std::ios::binary).write(reinterpret_cast<const char*>(rgb.data), long(rgb.total() * 3));
    auto raw = tiny->forward_raw(r);
    if (!raw) return 1;
    std::printf("out %d %d %d %d\n", raw->size[0], raw->size[1], raw->size[2], raw->size[3]);
    std::ofstream("/tmp/probe-tiny.out", std::ios::binary).write(reinterpret_cast<const char*>(raw->ptr<float>()), long(raw->total() * 4));
    auto d = tiny->detect(r, 0.3f);
    for (auto& x : *d) std::printf("%.4f %.1f %.1f %.1f %.1f\n", x.score, x.left, x.top, x.right - x.left, x.bottom - x.top);
    return 0;
  }
  if (cmd == "minface") {
    AnalyzerConfig cfg;
    cfg.model.models_dir = models();
    cfg.load_encoder = false;
    auto a = FaceAnalyzer::create(cfg);
    if (!a) return 1;
    DetectParams p;
    p.min_face = 40;
    p.min_face_fraction = 0;
    p.landmarks = false;
    std::vector<int> Ts = {16, 20, 24, 28, 32, 40, 48, 64, 96};
    if (const char* e = std::getenv("PROBE_T")) {  // e.g. "24 28 32 36"
      Ts.clear();
      std::istringstream in(e);
      for (int t; in >> t;) Ts.push_back(t);
    }
    const std::vector<float> thr = {0.05f, 0.1f, 0.2f, 0.3f, 0.5f};
    std::map<int, std::vector<int>> found;  // per T, per threshold
    std::vector<double> ratio_w, ratio_h, dx, dy;
    int faces = 0;
    for (int i = 2; i < argc; ++i)
      for (auto& e : fs::recursive_directory_iterator(argv[i])) {
        const auto ext = e.path().extension().string();
        if (ext != ".jpg" && ext != ".jpeg" && ext != ".png") continue;
        auto r = a->analyze(e.path(), p);
        if (!r) continue;
        cv::Mat img = cv::imread(e.path().string());
        if (img.empty()) continue;
        for (auto& f : r->faces) {
          if (f.size < 80) continue;
          ++faces;
          for (int T : Ts) {
            const double s = double(T) / f.size;
            cv::Mat sm;
            cv::resize(img, sm, cv::Size(), s, s, cv::INTER_AREA);
            auto d = tiny->detect(sm, thr.front());
            if (!d) continue;
            const double cx = (f.box.left + f.box.right) / 2.0 * s, cy = (f.box.top + f.box.bottom) / 2.0 * s;
            bool h3 = false;
            float best = 0;
            for (auto& x : *d) {
              const double tx = (x.left + x.right) / 2, ty = (x.top + x.bottom) / 2;
              if (std::abs(tx - cx) < 0.3 * T && std::abs(ty - cy) < 0.3 * T) {
                if (!h3 && T >= 48) {
                  ratio_w.push_back((x.right - x.left) / T);
                  ratio_h.push_back((x.bottom - x.top) / T);
                  dx.push_back((tx - cx) / T);
                  dy.push_back((ty - cy) / T);
                }
                if (x.score >= 0.3f) h3 = true;
                best = std::max(best, x.score);
              }
            }
            found[T].resize(thr.size());
            for (size_t k = 0; k < thr.size(); ++k) found[T][k] += best >= thr[k];
          }
        }
      }
    std::printf("%d HOG faces >= 80 px\n", faces);
    for (int T : Ts) {
      std::printf("T=%3d px: found", T);
      for (size_t k = 0; k < thr.size(); ++k) std::printf(" %5.1f%% (>=%.2f)", 100.0 * found[T][k] / faces, thr[k]);
      std::printf("\n");
    }
    auto med = [](std::vector<double> v) {
      if (v.empty()) return 0.0;
      std::sort(v.begin(), v.end());
      return v[v.size() / 2];
    };
    auto pct = [](std::vector<double> v, double q) {
      if (v.empty()) return 0.0;
      std::sort(v.begin(), v.end());
      return v[size_t(q * (v.size() - 1))];
    };
    std::printf("tiny box / HOG box (T>=48): w median %.3f [%.3f..%.3f], h median %.3f [%.3f..%.3f]; centre offset "
                "x %.3f y %.3f [%.3f..%.3f]\n",
                med(ratio_w), pct(ratio_w, 0.05), pct(ratio_w, 0.95), med(ratio_h), pct(ratio_h, 0.05),
                pct(ratio_h, 0.95), med(dx), med(dy), pct(dy, 0.05), pct(dy, 0.95));
    return 0;
  }
  return 2;
}
