// probe-ultraface: measurements behind the ultraface detector (bench/README.md), run by hand.
//   probe-ultraface check IMAGE         the cut model + our decoding against the shipped model at 320×240
//   probe-ultraface time W H [N]        forward ms at W×H, whole image against 320×240 tiles (64 px overlap)
//   probe-ultraface minface DIR...      HOG faces (>= 80 px) of every photo under DIR, each photo shrunk so that the
//                                       face's HOG box is T px: how often UltraFace finds it (score > 0.7), per T,
//                                       and the box transform UltraFace box -> HOG box
//   probe-ultraface desc DIR...         hog against ultraface and ultraface:fit on every photo: faces found, the
//                                       descriptor distance to hog's for the same face (median, worst), and the
//                                       crops of faces HOG did not confirm under /tmp/probe-ultraface/
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <opencv2/dnn.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "face/analyzer.hpp"
#include "face/descriptor.hpp"
#include "face/ultraface.hpp"

using namespace facecat::face;
namespace fs = std::filesystem;

static std::string models() {
  return std::getenv("FACECAT_MODELS_DIR") ? std::getenv("FACECAT_MODELS_DIR") : FACECAT_MODELS;
}
static double med(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}
static double pct(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[size_t(q * double(v.size() - 1))];
}
static std::vector<fs::path> images(int argc, char** argv, int from) {
  std::vector<fs::path> out;
  for (int i = from; i < argc; ++i)
    for (auto& e : fs::recursive_directory_iterator(argv[i])) {
      auto ext = e.path().extension().string();
      std::transform(ext.begin(), ext.end(), ext.begin(), ::tolower);
      if (ext == ".jpg" || ext == ".jpeg" || ext == ".png") out.push_back(e.path());
    }
  std::sort(out.begin(), out.end());
  return out;
}

int main(int argc, char** argv) {
  if (argc < 3) return 2;
  cv::setNumThreads(1);
  auto uf = detail::UltraFace::load(detail::ultraface_model_path(models()));
  if (!uf) {
    std::fprintf(stderr, "%s\n", uf.error().message.c_str());
    return 1;
  }
  const std::string cmd = argv[1];
  if (cmd == "check") {
    cv::Mat img = cv::imread(argv[2]), r;
    cv::resize(img, r, cv::Size(320, 240), 0, 0, cv::INTER_AREA);
    auto net = cv::dnn::readNetFromONNX(detail::ultraface_shipped_path(models()).string());
    net.setInput(cv::dnn::blobFromImage(r, 1.0 / 128, cv::Size(), cv::Scalar(127, 127, 127), true, false, CV_32F));
    std::vector<cv::Mat> outs;
    net.forward(outs, std::vector<std::string>{"scores", "boxes"});
    auto mine = uf->detect_raw(r, -1.0f);
    if (!mine) return 1;
    const int n = outs[0].size[1];
    std::printf("priors: shipped %d, ours %zu\n", n, mine->size());
    double worst = 0, worst_s = 0;
    for (int i = 0; i < n && i < int(mine->size()); ++i) {
      const float* b = outs[1].ptr<float>() + i * 4;
      const auto& m = (*mine)[size_t(i)];
      worst = std::max({worst, double(std::abs(b[0] * 320 - m.left)), double(std::abs(b[1] * 240 - m.top)),
                        double(std::abs(b[2] * 320 - m.right)), double(std::abs(b[3] * 240 - m.bottom))});
      worst_s = std::max(worst_s, double(std::abs(outs[0].ptr<float>()[i * 2 + 1] - m.score)));
    }
    std::printf("max |box difference| %.5f px, max |score difference| %.6f\n", worst, worst_s);
    auto d = uf->detect(r, 0.7f);
    for (auto& x : *d) std::printf("%.4f %.1f %.1f %.1f %.1f\n", x.score, x.left, x.top, x.right, x.bottom);
    return 0;
  }
  if (cmd == "time" && argc >= 4) {
    const int W = std::atoi(argv[2]), H = std::atoi(argv[3]), N = argc > 4 ? std::atoi(argv[4]) : 5;
    cv::Mat img(H, W, CV_8UC3);
    cv::randu(img, 0, 255);
    using clk = std::chrono::steady_clock;
    auto best = [&](auto fn) {
      double b = 1e9;
      for (int i = 0; i < N; ++i) {
        auto t = clk::now();
        fn();
        b = std::min(b, std::chrono::duration<double, std::milli>(clk::now() - t).count());
      }
      return b;
    };
    const double whole = best([&] { (void)uf->detect(img, 0.7f); });
    auto shipped = cv::dnn::readNetFromONNX(detail::ultraface_shipped_path(models()).string());
    int tiles = 0;
    const int ov = 64;
    const double tiled = best([&] {
      tiles = 0;
      for (int y = 0; y < H; y += 240 - ov)
        for (int x = 0; x < W; x += 320 - ov) {
          cv::Mat t = cv::Mat::zeros(240, 320, CV_8UC3);
          cv::Rect r(x, y, std::min(320, W - x), std::min(240, H - y));
          img(r).copyTo(t(cv::Rect(0, 0, r.width, r.height)));
          shipped.setInput(cv::dnn::blobFromImage(t, 1.0 / 128, cv::Size(), cv::Scalar(127, 127, 127), true, false));
          std::vector<cv::Mat> o;
          shipped.forward(o, std::vector<std::string>{"scores", "boxes"});
          ++tiles;
          if (x + 320 >= W) break;
        }
    });
    std::printf("%dx%d: whole image (cut model) %.1f ms; %d tiles of 320x240 (overlap %d, shipped model) %.1f ms\n", W, H,
                whole, tiles, ov, tiled);
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
    std::vector<int> Ts = {12, 16, 20, 24, 28, 32, 40, 48, 64, 96, 128, 160, 200, 256};
    if (const char* e = std::getenv("PROBE_T")) {
      Ts.clear();
      std::istringstream in(e);
      for (int t; in >> t;) Ts.push_back(t);
    }
    std::vector<float> thr = {0.5f, 0.7f, 0.9f, 0.95f};
    if (const char* e = std::getenv("PROBE_THR")) {  // e.g. "0.3 0.5 0.7"
      thr.clear();
      std::istringstream in(e);
      for (float t; in >> t;) thr.push_back(t);
    }
    std::map<int, std::vector<int>> found;
    std::vector<double> rw, rh, dx, dy;
    int faces = 0;
    for (auto& path : images(argc, argv, 2)) {
      auto r = a->analyze(path, p);
      if (!r) continue;
      cv::Mat img = cv::imread(path.string());
      if (img.empty()) continue;
      for (auto& f : r->faces) {
        if (f.size < 80) continue;
        ++faces;
        for (int T : Ts) {
          const double s = double(T) / f.size;
          cv::Mat sm;
          cv::resize(img, sm, cv::Size(), s, s, s < 1 ? cv::INTER_AREA : cv::INTER_LINEAR);
          auto d = uf->detect(sm, thr.front());
          if (!d) continue;
          const double cx = (f.box.left + f.box.right) / 2.0 * s, cy = (f.box.top + f.box.bottom) / 2.0 * s;
          float bestsc = 0;
          bool took = false;
          for (auto& x : *d) {
            const double tx = (x.left + x.right) / 2, ty = (x.top + x.bottom) / 2;
            if (std::abs(tx - cx) < 0.3 * T && std::abs(ty - cy) < 0.3 * T) {
              if (!took && T >= 32 && T <= 96 && x.score > 0.7f) {
                rw.push_back((x.right - x.left) / T);
                rh.push_back((x.bottom - x.top) / T);
                dx.push_back((tx - cx) / T);
                dy.push_back((ty - cy) / T);
                took = true;
              }
              bestsc = std::max(bestsc, x.score);
            }
          }
          found[T].resize(thr.size());
          for (size_t k = 0; k < thr.size(); ++k) found[T][k] += bestsc > thr[k];
        }
      }
    }
    std::printf("%d HOG faces >= 80 px\n", faces);
    for (int T : Ts) {
      std::printf("T=%3d px: found", T);
      for (size_t k = 0; k < thr.size(); ++k) std::printf(" %5.1f%% (>%.2f)", 100.0 * found[T][k] / faces, thr[k]);
      std::printf("\n");
    }
    std::printf("UltraFace box / HOG box (32<=T<=96, n=%zu): w %.3f [%.3f..%.3f], h %.3f [%.3f..%.3f]; centre offset "
                "x %.3f [%.3f..%.3f] y %.3f [%.3f..%.3f]\n",
                rw.size(), med(rw), pct(rw, 0.05), pct(rw, 0.95), med(rh), pct(rh, 0.05), pct(rh, 0.95), med(dx),
                pct(dx, 0.05), pct(dx, 0.95), med(dy), pct(dy, 0.05), pct(dy, 0.95));
    return 0;
  }
  if (cmd == "desc") {
    AnalyzerConfig cfg;
    cfg.model.models_dir = models();
    auto a = FaceAnalyzer::create(cfg);
    if (!a) {
      std::fprintf(stderr, "%s\n", a.error().message.c_str());
      return 1;
    }
    fs::create_directories("/tmp/probe-ultraface");
    std::map<std::string, std::vector<double>> dist;
    std::map<std::string, int> missed, extra, total, unconf;
    int hog_faces = 0;
    for (auto& path : images(argc, argv, 2)) {
      DetectParams p;
      p.keep_crops = true;
      auto h = a->analyze(path, p);
      if (!h) continue;
      for (const char* det : {"ultraface", "ultraface:fit"}) {
        if (std::getenv("PROBE_NO_FIT") && std::string(det) == "ultraface:fit") continue;
        DetectParams q = p;
        q.detector = det;
        auto u = a->analyze(path, q);
        if (!u) continue;
        total[det] += int(u->faces.size());
        unconf[det] += u->unconfirmed;
        std::vector<bool> used(u->faces.size());
        for (auto& f : h->faces) {
          if (f.size < h->min_face) continue;
          if (std::string(det) == "ultraface") ++hog_faces;
          int hit = -1;
          for (size_t i = 0; i < u->faces.size(); ++i) {
            const auto& g = u->faces[i];
            if (std::abs((g.box.left + g.box.right) - (f.box.left + f.box.right)) / 2.0 <= 0.3 * f.size &&
                std::abs((g.box.top + g.box.bottom) - (f.box.top + f.box.bottom)) / 2.0 <= 0.3 * f.size)
              hit = int(i);
          }
          if (hit < 0) {
            ++missed[det];
            std::printf("%s: %s missed hog face %d,%d size %d\n", det, path.c_str(), f.box.left, f.box.top, f.size);
            continue;
          }
          used[size_t(hit)] = true;
          if (f.has_descriptor && u->faces[size_t(hit)].has_descriptor) {
            const double dd = descriptor_distance(f.descriptor, u->faces[size_t(hit)].descriptor);
            dist[det].push_back(dd);
            if (dd > 0.2)
              std::printf("%s: %s hog face %d,%d size %d vs %d,%d size %d: distance %.3f\n", det, path.c_str(),
                          f.box.left, f.box.top, f.size, u->faces[size_t(hit)].box.left, u->faces[size_t(hit)].box.top,
                          u->faces[size_t(hit)].size, dd);
          }
        }
        for (size_t i = 0; i < u->faces.size(); ++i) {
          const auto& g = u->faces[i];
          bool near_hog = false;  // also hog faces below min_face
          for (auto& f : h->faces)
            if (std::abs((g.box.left + g.box.right) - (f.box.left + f.box.right)) / 2.0 <= 0.3 * f.size &&
                std::abs((g.box.top + g.box.bottom) - (f.box.top + f.box.bottom)) / 2.0 <= 0.3 * f.size)
              near_hog = true;
          if (near_hog) continue;
          ++extra[det];
          const std::string name = "/tmp/probe-ultraface/" + std::string(det == std::string("ultraface") ? "uf" : "fit") +
                                   "-" + path.stem().string() + "-" + std::to_string(i) + ".jpg";
          if (!g.crop_jpeg.empty()) {
            FILE* fp = std::fopen(name.c_str(), "wb");
            std::fwrite(g.crop_jpeg.data(), 1, g.crop_jpeg.size(), fp);
            std::fclose(fp);
          }
          std::printf("%s: extra face %s %d,%d size %d score %.3f hog_box %d frontal %.2f blur %.0f -> %s\n", det,
                      path.c_str(), g.box.left, g.box.top, g.size, g.score, int(g.hog_box), g.frontalness, g.blur,
                      name.c_str());
        }
      }
    }
    std::printf("hog faces >= min_face: %d\n", hog_faces);
    for (const char* det : {"ultraface", "ultraface:fit"}) {
      auto& v = dist[det];
      std::printf("%s: faces %d (unconfirmed kept %d), missed %d of hog's, extra %d; descriptor distance to hog's: "
                  "median %.3f, 90%% %.3f, worst %.3f (n=%zu)\n",
                  det, total[det], unconf[det], missed[det], extra[det], med(v), pct(v, 0.9),
                  v.empty() ? 0.0 : *std::max_element(v.begin(), v.end()), v.size());
    }
    return 0;
  }
  return 2;
}
