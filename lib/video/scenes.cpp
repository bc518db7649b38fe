#include "video/scenes.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <map>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <set>
#include <thread>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <fcntl.h>
#include <unistd.h>

#include "core/signals.hpp"
#include "util/atomic_file.hpp"
#include "util/hash.hpp"
#include "util/text.hpp"

namespace facecat::video {

namespace fs = std::filesystem;
using json = nlohmann::json;

const char* detector_name(DetectorKind k) {
  switch (k) {
    case DetectorKind::Content: return "content";
    case DetectorKind::Adaptive: return "adaptive";
    case DetectorKind::Threshold: return "threshold";
  }
  return "?";
}

Result<std::vector<DetectorKind>> parse_detectors(const std::string& s) {
  std::vector<DetectorKind> out;
  for (const auto& raw : util::split(s, ',')) {
    auto name = util::to_lower(util::trim(raw));
    DetectorKind k;
    if (name == "content") k = DetectorKind::Content;
    else if (name == "adaptive") k = DetectorKind::Adaptive;
    else if (name == "threshold" || name == "fade" || name == "fades") k = DetectorKind::Threshold;
    else return make_error("unknown detector '" + name + "' (content, adaptive or threshold)", 2);
    if (std::find(out.begin(), out.end(), k) == out.end()) out.push_back(k);
  }
  if (out.empty()) return make_error("no detector given (content, adaptive or threshold)", 2);
  return out;
}

json Options::params() const {
  json d = json::array();
  for (auto k : detectors) d.push_back(detector_name(k));
  json p = {{"detectors", d}, {"analysis_long_side", analysis_long_side}, {"frames_per_scene", frames_per_scene}};
  for (auto k : detectors) {
    if (k == DetectorKind::Content)
      p["content"] = {{"threshold", content.threshold},
                      {"min_scene_len", content.min_scene_len},
                      {"weights", {content.weights.hue, content.weights.sat, content.weights.lum}}};
    if (k == DetectorKind::Adaptive)
      p["adaptive"] = {{"adaptive_threshold", adaptive.adaptive_threshold},
                       {"min_scene_len", adaptive.min_scene_len},
                       {"window_width", adaptive.window_width},
                       {"min_content_val", adaptive.min_content_val}};
    if (k == DetectorKind::Threshold)
      p["threshold"] = {{"threshold", threshold.threshold},
                        {"min_scene_len", threshold.min_scene_len},
                        {"fade_bias", threshold.fade_bias}};
  }
  return p;
}

std::vector<Scene> make_scenes(const std::vector<int64_t>& cuts, int64_t n, const std::vector<double>& times,
                               double end_time) {
  std::vector<Scene> out;
  if (n <= 0) return out;
  std::vector<int64_t> bounds{0};
  for (int64_t c : cuts)
    if (c > bounds.back() && c < n) bounds.push_back(c);
  bounds.push_back(n);
  auto t = [&](int64_t f) { return f < n && f < static_cast<int64_t>(times.size()) ? times[f] : end_time; };
  for (size_t i = 0; i + 1 < bounds.size(); ++i) {
    Scene s;
    s.index = static_cast<int>(i);
    s.start_frame = bounds[i];
    s.end_frame = bounds[i + 1];
    s.start_time = t(s.start_frame);
    s.end_time = t(s.end_frame);
    out.push_back(s);
  }
  return out;
}

static void pick_scene(const Analysis& a, const Scene& s, int per_scene, double black_level, double blur_ratio,
                       std::vector<Pick>& out);

// The variance of the 4-neighbour Laplacian with mirrored borders: exactly what cv::Laplacian(gray, CV_16S) and
// cv::meanStdDev() give (sd²), in one pass and a fraction of their time. Rows are summed in 32 bits, which the
// compiler vectorises (|l| <= 1020, so a row of up to 2048 pixels cannot overflow), and added up in 64.
static double laplacian_variance(const cv::Mat& gray) {
  const int h = gray.rows, w = gray.cols;
  if (h < 2 || w < 2) {
    cv::Mat lap;
    cv::Laplacian(gray, lap, CV_16S);
    cv::Scalar mean, sd;
    cv::meanStdDev(lap, mean, sd);
    return sd[0] * sd[0];
  }
  int64_t s1 = 0, s2 = 0;
  for (int r = 0; r < h; ++r) {
    const uint8_t* up = gray.ptr<uint8_t>(r > 0 ? r - 1 : 1);
    const uint8_t* m = gray.ptr<uint8_t>(r);
    const uint8_t* dn = gray.ptr<uint8_t>(r + 1 < h ? r + 1 : h - 2);
    for (int c0 = 1; c0 < w - 1; c0 += 2048) {
      const int c1 = std::min(w - 1, c0 + 2048);
      int32_t r1 = 0;
      uint32_t r2 = 0;
      for (int c = c0; c < c1; ++c) {
        const auto l = static_cast<int16_t>(up[c] + dn[c] + m[c - 1] + m[c + 1] - 4 * m[c]);
        r1 += l;
        r2 += static_cast<uint32_t>(static_cast<int32_t>(l) * l);
      }
      s1 += r1;
      s2 += r2;
    }
    const int l0 = up[0] + dn[0] + 2 * m[1] - 4 * m[0];
    const int l1 = up[w - 1] + dn[w - 1] + 2 * m[w - 2] - 4 * m[w - 1];
    s1 += l0 + l1;
    s2 += l0 * l0 + l1 * l1;
  }
  const double n = static_cast<double>(h) * w, mean = static_cast<double>(s1) / n;
  return std::max(0.0, static_cast<double>(s2) / n - mean * mean);
}

// Ready JPEGs of a long video: appended to one unnamed file (O_TMPFILE, else a name unlinked at once), so memory
// stays bounded and nothing is left on disk however the process ends.
class SpillFile {
 public:
  static Result<std::shared_ptr<SpillFile>> open(const fs::path& dir) {
    int fd = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0) {  // a file system without O_TMPFILE
      std::string name = (dir / ".facecat-scenes-spill.XXXXXX").string();
      fd = ::mkostemp(name.data(), O_CLOEXEC);
      if (fd >= 0) ::unlink(name.c_str());
    }
    if (fd < 0) return make_error("cannot create a temp file in " + dir.string() + ": " + std::strerror(errno));
    return std::shared_ptr<SpillFile>(new SpillFile(fd));
  }
  ~SpillFile() { ::close(fd_); }
  SpillFile(const SpillFile&) = delete;
  SpillFile& operator=(const SpillFile&) = delete;

  // Appends the bytes; returns their offset.
  Result<int64_t> append(const std::vector<unsigned char>& b) {
    const int64_t at = end_;
    size_t done = 0;
    while (done < b.size()) {
      ssize_t w = ::pwrite(fd_, b.data() + done, b.size() - done, static_cast<off_t>(at + static_cast<int64_t>(done)));
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return make_error(std::string("cannot write the frames' temp file: ") + std::strerror(errno));
      done += static_cast<size_t>(w);
    }
    end_ += static_cast<int64_t>(b.size());
    return at;
  }
  Result<std::vector<unsigned char>> read(int64_t offset, int64_t size) const {
    std::vector<unsigned char> b(static_cast<size_t>(size));
    size_t done = 0;
    while (done < b.size()) {
      ssize_t r = ::pread(fd_, b.data() + done, b.size() - done, static_cast<off_t>(offset + static_cast<int64_t>(done)));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) return make_error(std::string("cannot read the frames' temp file: ") + (r ? std::strerror(errno) : "short"));
      done += static_cast<size_t>(r);
    }
    return b;
  }

 private:
  explicit SpillFile(int fd) : fd_(fd) {}
  int fd_;
  int64_t end_ = 0;
};

Result<std::vector<unsigned char>> EncodedFrame::bytes() const {
  if (!spill) return jpeg;
  return spill->read(offset, size);
}

Result<Analysis> analyze(Decoder& dec, const Options& opts, const FrameProgress& progress) {
  Analysis a;
  a.info = dec.info();
  const cv::Size size = Decoder::analysis_size(a.info.width, a.info.height, opts.analysis_long_side);
  dec.set_output_size(size);

  std::vector<std::unique_ptr<Detector>> dets;
  bool need_content = false;
  for (auto k : opts.detectors) {
    if (k == DetectorKind::Content) dets.push_back(std::make_unique<ContentDetector>(opts.content));
    if (k == DetectorKind::Adaptive) dets.push_back(std::make_unique<AdaptiveDetector>(opts.adaptive));
    if (k == DetectorKind::Threshold) dets.push_back(std::make_unique<ThresholdDetector>(opts.threshold));
    need_content |= k != DetectorKind::Threshold;
  }
  (void)need_content;  // the content score is always kept: it is each scene's score
  ContentScorer scorer(opts.content.weights);
  std::map<int64_t, std::string> cut_by;  // cut frame -> the detector that found it first
  std::vector<int64_t> fresh;             // cuts reported for the current frame
  auto add_cuts = [&](const std::vector<int64_t>& cuts, const Detector& d) {
    for (int64_t c : cuts) {
      cut_by.emplace(c, d.name());
      fresh.push_back(c);
    }
  };

  // Representative frames from this pass (Options::keep_frames). The decoder keeps the full-resolution frames
  // from just before the running first pick of the open scene (its middle, for one frame per scene) on: whatever
  // the scene's end, its picks are among them. When a cut closes the scene, its picks are encoded at once and
  // the kept frames before the new scene's running middle are let go. Picks that were not kept (a scene longer
  // than the memory allows, a black or blurred middle replaced from further back, a cut reported late) are
  // fetched by seeking afterwards, as before. The same pick_scene() decides here and in pick_frames(), so a
  // scene ends up with the same frames either way.
  const bool keep = opts.keep_frames;
  const int per_scene = std::max(1, opts.frames_per_scene);
  constexpr int64_t kSlack = 8;  // frames kept before the running pick: cuts reported a few frames late
  int64_t scene_start = 0;
  size_t ready_bytes = 0;  // in memory
  // JPEGs beyond jpeg_memory go to the spill file when there is a folder for it.
  const size_t in_memory = opts.spill_dir.empty() ? opts.frame_memory : std::min(opts.jpeg_memory, opts.frame_memory);
  std::shared_ptr<SpillFile> spill;
  bool spill_failed = opts.spill_dir.empty();
  // Moves a JPEG to the spill file (opened on first use). On failure, spilling stops: the JPEGs then stay in
  // memory up to the budget, and later picks are fetched by seeking.
  auto spill_out = [&](EncodedFrame& e) {
    if (!spill) {
      auto f = SpillFile::open(opts.spill_dir);
      if (!f) {
        spdlog::debug("{}", f.error().message);
        spill_failed = true;
        return false;
      }
      spill = *f;
    }
    auto at = spill->append(e.jpeg);
    if (!at) {
      spdlog::debug("{}", at.error().message);
      spill_failed = true;
      spill.reset();
      return false;
    }
    e.spill = spill;
    e.offset = *at;
    e.size = static_cast<int64_t>(e.jpeg.size());
    std::vector<unsigned char>().swap(e.jpeg);
    ++a.spilled;
    return true;
  };
  if (keep) dec.set_retain(opts.frame_memory);
  auto close_scene = [&](int64_t s, int64_t c) {
    Scene sc;
    sc.start_frame = s;
    sc.end_frame = c;
    sc.start_time = a.times[static_cast<size_t>(s)];
    sc.end_time = a.times[static_cast<size_t>(c)];
    std::vector<Pick> picks;
    pick_scene(a, sc, per_scene, opts.black_level, opts.blur_ratio, picks);
    for (const auto& p : picks) {
      if ((spill_failed && ready_bytes >= in_memory) || a.ready.count(p.frame) || !dec.is_retained(p.frame))
        continue;
      cv::Mat img = dec.retained_frame(p.frame);
      EncodedFrame e;
      if (img.empty() || !encode_jpeg(img, opts.jpeg_quality, e.jpeg)) continue;  // save_frames() says why
      e.width = img.cols;
      e.height = img.rows;
      const bool spilled = ready_bytes + e.jpeg.size() > in_memory && !spill_failed && spill_out(e);
      if (!spilled) {
        if (ready_bytes >= in_memory) continue;  // over the budget, and nowhere to put it
        ready_bytes += e.jpeg.size();
      }
      a.ready.emplace(p.frame, std::move(e));
    }
  };

  if (a.info.declared_frames > 0) {
    const auto reserve = static_cast<size_t>(std::min<int64_t>(a.info.declared_frames + 16, 50'000'000));
    a.pts.reserve(reserve);
    a.times.reserve(reserve);
    a.content.reserve(reserve);
    a.brightness.reserve(reserve);
    a.sharpness.reserve(reserve);
  }
  int64_t n = 0;
  // Where the threads' CPU time goes (logged at debug level).
  auto cpu_now = [] {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + ts.tv_nsec * 1e-9;
  };
  double cpu_analysis = 0, cpu_metrics = 0, mark = cpu_now();
  // Decoding, scaling and the per-frame metrics run on a thread of their own, a bounded queue ahead of the
  // analysis: the thread that feeds libavcodec's frame threads never waits for a scene's JPEGs, so the decoder
  // keeps every core busy, and the small frame is measured while it is still in this core's cache.
  struct Item {
    FrameStamp st;
    double score = 0, average = 0, sharpness = 0;
  };
  std::mutex mu;
  std::condition_variable can_put, can_get;
  std::deque<Item> queue;
  bool producer_done = false, stop = false;
  std::exception_ptr producer_error;
  constexpr size_t kQueue = 16;
  std::thread producer([&] {
    try {
      cv::Mat small, luma;
      for (;;) {
        Item it;
        const bool ok = dec.next(it.st, &small, &luma);
        if (ok) {
          const double t0 = cpu_now();
          it.score = scorer.score(small);
          it.average = frame_average(small);
          it.sharpness = laplacian_variance(luma);  // the sharpness of the luma
          cpu_metrics += cpu_now() - t0;
        }
        std::unique_lock<std::mutex> lk(mu);
        if (!ok) break;
        can_put.wait(lk, [&] { return stop || queue.size() < kQueue; });
        if (stop) break;
        queue.push_back(std::move(it));
        can_get.notify_one();
      }
    } catch (...) {
      std::lock_guard<std::mutex> lk(mu);
      producer_error = std::current_exception();
    }
    std::lock_guard<std::mutex> lk(mu);
    producer_done = true;
    can_get.notify_one();
  });
  struct Joiner {  // the producer is stopped and joined however the analysis ends (an interrupt throws)
    std::thread& t;
    std::mutex& mu;
    std::condition_variable& cv;
    bool& stop;
    ~Joiner() {
      {
        std::lock_guard<std::mutex> lk(mu);
        stop = true;
      }
      cv.notify_all();
      if (t.joinable()) t.join();
    }
  } joiner{producer, mu, can_put, stop};
  auto pop = [&](Item& out) {
    std::unique_lock<std::mutex> lk(mu);
    can_get.wait(lk, [&] { return producer_done || !queue.empty(); });
    if (queue.empty()) {
      if (producer_error) std::rethrow_exception(producer_error);
      return false;
    }
    out = std::move(queue.front());
    queue.pop_front();
    can_put.notify_one();
    return true;
  };
  Item item;
  while (pop(item)) {
    const FrameStamp& st = item.st;
    double t1 = cpu_now();
    if ((n & 63) == 0) {
      throw_if_interrupted();
      if (progress) progress(n);
    }
    const double score = item.score, avg = item.average;
    a.pts.push_back(st.pts);
    a.times.push_back(st.time);
    a.content.push_back(static_cast<float>(score));
    a.brightness.push_back(static_cast<float>(avg));
    a.sharpness.push_back(static_cast<float>(item.sharpness));
    fresh.clear();
    for (auto& d : dets) {
      if (auto* c = dynamic_cast<ContentDetector*>(d.get())) add_cuts(c->process_score(n, score), *d);
      else if (auto* ad = dynamic_cast<AdaptiveDetector*>(d.get())) add_cuts(ad->process_score(n, score), *d);
      else if (auto* t = dynamic_cast<ThresholdDetector*>(d.get())) add_cuts(t->process_average(n, avg), *d);
    }
    if (keep) {
      std::sort(fresh.begin(), fresh.end());
      for (int64_t c : fresh) {
        if (c <= scene_start || c > n) continue;  // a late cut inside a closed scene: its picks are fetched later
        close_scene(scene_start, c);
        scene_start = c;
      }
      // The open scene's first pick is at least at this time, however long the scene gets.
      const double t0 = a.times[static_cast<size_t>(scene_start)];
      const double first = t0 + (st.time - t0) / (2.0 * per_scene);
      auto it = std::upper_bound(a.times.begin() + scene_start, a.times.end(), first);
      const int64_t f = std::max<int64_t>(scene_start, static_cast<int64_t>(it - a.times.begin()) - 1);
      dec.release_retained_before(f - kSlack);
    }
    ++n;
    mark = cpu_now();
    cpu_analysis += mark - t1;
    (void)mark;
  }
  producer.join();
  if (n > 0)
    spdlog::debug("CPU per frame: {:.3f} ms for the frame metrics (decoding thread), {:.3f} ms for cuts, picks and "
                  "their JPEGs (analysis thread)", cpu_metrics * 1e3 / n, cpu_analysis * 1e3 / n);
  if (keep)
    spdlog::debug("{} representative frames encoded during the pass, {} of them in the spill file", a.ready.size(),
                  a.spilled);
  if (progress) progress(n);
  a.frames = n;
  a.decode_errors = dec.decode_errors();
  a.first_error = dec.first_error();
  if (n == 0)
    return make_error("no frame could be decoded" + (a.first_error.empty() ? std::string() : " (" + a.first_error + ")"));
  const auto& info = a.info;
  if (info.declared_exact && info.declared_frames > 0) {
    const int64_t tolerance = std::max<int64_t>(2, info.declared_frames / 100);
    if (n < info.declared_frames - tolerance)
      return make_error("truncated or corrupt: only " + std::to_string(n) + " of the " +
                        std::to_string(info.declared_frames) + " frames the header declares could be decoded" +
                        (a.first_error.empty() ? std::string() : " (" + a.first_error + ")"));
  }
  if (a.decode_errors > std::max<int64_t>(2, n / 100))
    return make_error("corrupt: " + std::to_string(a.decode_errors) + " decoding errors (first: " + a.first_error + ")");
  if (a.decode_errors > 0)
    a.warning = std::to_string(a.decode_errors) + " decoding error(s), frames skipped (first: " + a.first_error + ")";
  else if (!info.declared_exact && info.declared_frames > 0 && n < info.declared_frames * 9 / 10 - 2)
    a.warning = "decoded " + std::to_string(n) + " frames, fewer than the ~" + std::to_string(info.declared_frames) +
                " the duration suggests";

  for (auto& d : dets) add_cuts(d->post_process(n - 1), *d);
  for (const auto& [c, by] : cut_by)
    if (c > 0 && c < n) a.cuts.push_back(c);

  // The last frame lasts as long as the one before it (or one frame at the average rate).
  double last_dur = n >= 2 ? a.times[n - 1] - a.times[n - 2] : 0;
  if (!(last_dur > 0)) last_dur = info.fps > 0 ? 1.0 / info.fps : 0.04;
  a.end_time = a.times[n - 1] + last_dur;
  a.scenes = make_scenes(a.cuts, n, a.times, a.end_time);
  for (auto& s : a.scenes) {
    if (s.start_frame == 0) continue;
    s.score = a.content[static_cast<size_t>(s.start_frame)];
    auto it = cut_by.find(s.start_frame);
    if (it != cut_by.end()) s.detector = it->second;
  }
  return a;
}

// The picks of one scene (see pick_frames), appended to out. Only reads the frames of [start_frame, end_frame).
static void pick_scene(const Analysis& a, const Scene& s, int per_scene, double black_level, double blur_ratio,
                       std::vector<Pick>& out) {
  per_scene = std::max(1, per_scene);
  auto frame_at_time = [&](int64_t lo, int64_t hi, double t) {  // last frame in [lo,hi) shown at time t
    auto first = a.times.begin() + lo, last = a.times.begin() + hi;
    auto it = std::upper_bound(first, last, t);
    return it == first ? lo : static_cast<int64_t>(it - a.times.begin()) - 1;
  };
  auto black = [&](int64_t f) { return a.brightness[static_cast<size_t>(f)] < black_level; };
  const double dur = s.end_time - s.start_time;
  std::set<int64_t> taken;
  for (int j = 0; j < per_scene; ++j) {
    const double ta = s.start_time + dur * j / per_scene, tb = s.start_time + dur * (j + 1) / per_scene;
    const double target = (ta + tb) / 2;
    int64_t f = frame_at_time(s.start_frame, s.end_frame, target);
    // The middle half of this stretch: where a replacement may come from.
    int64_t wlo = frame_at_time(s.start_frame, s.end_frame, ta + (tb - ta) / 4);
    int64_t whi = frame_at_time(s.start_frame, s.end_frame, tb - (tb - ta) / 4) + 1;
    wlo = std::min(wlo, f);
    whi = std::max(whi, f + 1);
    auto sharpest = [&](int64_t lo, int64_t hi) -> int64_t {
      int64_t best = -1;
      for (int64_t i = lo; i < hi; ++i)
        if (!black(i) && (best < 0 || a.sharpness[static_cast<size_t>(i)] > a.sharpness[static_cast<size_t>(best)]))
          best = i;
      return best;
    };
    std::string reason = "middle";
    int64_t best = sharpest(wlo, whi);
    if (black(f)) {
      if (best < 0) {  // the whole middle is black: look at the whole stretch
        best = sharpest(frame_at_time(s.start_frame, s.end_frame, ta), frame_at_time(s.start_frame, s.end_frame, tb) + 1);
      }
      if (best >= 0) {
        f = best;
        reason = "sharpest";
      } else {
        reason = "black";
      }
    } else if (best >= 0 && a.sharpness[static_cast<size_t>(f)] < blur_ratio * a.sharpness[static_cast<size_t>(best)]) {
      f = best;
      reason = "sharpest";
    }
    if (!taken.insert(f).second) continue;  // a short scene: the same frame twice
    Pick p;
    p.scene = s.index;
    p.n = static_cast<int>(taken.size());
    p.frame = f;
    p.pts = a.pts[static_cast<size_t>(f)];
    p.time = a.times[static_cast<size_t>(f)];
    p.reason = reason;
    out.push_back(p);
  }
}

std::vector<Pick> pick_frames(const Analysis& a, int per_scene, double black_level, double blur_ratio) {
  std::vector<Pick> out;
  for (const auto& s : a.scenes) pick_scene(a, s, per_scene, black_level, blur_ratio, out);
  // Fetching in stream order lets the decoder go forward instead of seeking back.
  std::stable_sort(out.begin(), out.end(), [](const Pick& x, const Pick& y) { return x.frame < y.frame; });
  return out;
}

bool encode_jpeg(const cv::Mat& bgr, int quality, std::vector<unsigned char>& out) {
  const std::vector<int> params{cv::IMWRITE_JPEG_QUALITY, std::clamp(quality, 1, 100)};
  out.clear();
  return cv::imencode(".jpg", bgr, out, params);
}

static std::string padded(int64_t v, int width) {
  std::string s = std::to_string(v);
  if (static_cast<int>(s.size()) < width) s.insert(0, static_cast<size_t>(width) - s.size(), '0');
  return s;
}

Result<std::vector<SavedFrame>> save_frames(Decoder& dec, const std::vector<Pick>& picks, const fs::path& dir,
                                            const std::string& stem, int scene_count, int jpeg_quality,
                                            const std::map<int64_t, EncodedFrame>* ready) {
  std::vector<SavedFrame> out;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return make_error("cannot create " + dir.string() + ": " + ec.message());
  const int width = std::max<int>(3, static_cast<int>(std::to_string(scene_count).size()));
  auto undo = [&] {
    std::error_code e;
    for (const auto& f : out) fs::remove(f.path, e);
  };
  std::vector<uchar> own;
  int fetched = 0;
  for (const auto& p : picks) {
    if (interrupted()) {
      undo();
      throw Interrupted();
    }
    const std::vector<uchar>* jpeg = &own;
    SavedFrame sf;
    const EncodedFrame* done = nullptr;
    if (ready) {
      auto it = ready->find(p.frame);
      if (it != ready->end()) done = &it->second;
    }
    if (done && done->spill) {
      auto b = done->bytes();
      if (!b) {
        undo();
        return make_error("frame " + std::to_string(p.frame) + " (" + timecode(p.time) + "): " + b.error().message);
      }
      own = std::move(*b);
      sf.width = done->width;
      sf.height = done->height;
    } else if (done) {
      jpeg = &done->jpeg;
      sf.width = done->width;
      sf.height = done->height;
    } else {
      cv::Mat kept = dec.retained_frame(p.frame);
      if (kept.empty()) ++fetched;
      Result<cv::Mat> img = kept.empty() ? dec.frame_at(p.pts, p.frame) : Result<cv::Mat>(std::move(kept));
      if (!img) {
        undo();
        return make_error("frame " + std::to_string(p.frame) + " (" + timecode(p.time) + "): " + img.error().message);
      }
      if (!encode_jpeg(*img, jpeg_quality, own)) {
        undo();
        return make_error("cannot encode frame " + std::to_string(p.frame) + " as JPEG");
      }
      sf.width = img->cols;
      sf.height = img->rows;
    }
    const auto& buf = *jpeg;
    sf.pick = p;
    sf.path = dir / (stem + "-Scene-" + padded(p.scene + 1, width) + "-" + padded(p.n, 2) + ".jpg");
    sf.size = static_cast<int64_t>(buf.size());
    std::string_view bytes(reinterpret_cast<const char*>(buf.data()), buf.size());
    sf.hash = util::xxh3_128_hex(bytes);
    auto w = util::write_file_atomic(sf.path, bytes);
    if (!w) {
      undo();
      return make_error("cannot write " + sf.path.string() + ": " + w.error().message);
    }
    out.push_back(std::move(sf));
  }
  spdlog::debug("{} of {} frames fetched again by seeking (the others were kept by the analysis pass)", fetched,
                picks.size());
  return out;
}

std::string timecode(double seconds) {
  if (!(seconds > 0)) seconds = 0;
  auto ms = static_cast<int64_t>(std::llround(seconds * 1000.0));
  char buf[48];
  std::snprintf(buf, sizeof buf, "%02lld:%02lld:%02lld.%03lld", static_cast<long long>(ms / 3600000),
                static_cast<long long>(ms / 60000 % 60), static_cast<long long>(ms / 1000 % 60),
                static_cast<long long>(ms % 1000));
  return buf;
}

static std::string fixed3(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.3f", v);
  return buf;
}

std::string scenes_csv(const Analysis& a) {
  std::string out = "Timecode List:";
  for (size_t i = 1; i < a.scenes.size(); ++i) {
    out += ',';  // (not "," + timecode(): GCC 12's -Wrestrict false positive)
    out += timecode(a.scenes[i].start_time);
  }
  out += "\n";
  out += "Scene Number,Start Frame,Start Timecode,Start Time (seconds),End Frame,End Timecode,End Time (seconds),"
         "Length (frames),Length (timecode),Length (seconds)\n";
  for (const auto& s : a.scenes) {
    const double len = s.end_time - s.start_time;
    out += std::to_string(s.index + 1) + "," + std::to_string(s.start_frame + 1) + "," + timecode(s.start_time) + "," +
           fixed3(s.start_time) + "," + std::to_string(s.end_frame) + "," + timecode(s.end_time) + "," +
           fixed3(s.end_time) + "," + std::to_string(s.end_frame - s.start_frame) + "," + timecode(len) + "," +
           fixed3(len) + "\n";
  }
  return out;
}

std::string stats_csv(const Analysis& a) {
  std::string out = "Frame Number,Timecode,content_val,average,sharpness\n";
  char buf[160];
  for (size_t i = 0; i < static_cast<size_t>(a.frames); ++i) {
    std::snprintf(buf, sizeof buf, "%zu,%s,%.3f,%.3f,%.3f\n", i + 1, timecode(a.times[i]).c_str(), a.content[i],
                  a.brightness[i], a.sharpness[i]);
    out += buf;
  }
  return out;
}

static std::string edl_timecode(double seconds, double fps) {
  if (!(seconds > 0)) seconds = 0;
  if (!(fps > 0)) fps = 25;
  auto whole = static_cast<int64_t>(std::floor(seconds));
  auto frames = static_cast<int64_t>(std::fmod(seconds * fps, fps));
  char buf[48];
  std::snprintf(buf, sizeof buf, "%02lld:%02lld:%02lld:%02lld", static_cast<long long>(whole / 3600),
                static_cast<long long>(whole / 60 % 60), static_cast<long long>(whole % 60),
                static_cast<long long>(frames));
  return buf;
}

std::string scenes_edl(const Analysis& a, const std::string& title) {
  const double fps = a.info.nominal_fps > 0 ? a.info.nominal_fps : a.info.fps;
  std::string out = "TITLE: " + title + "\nFCM: NON-DROP FRAME\n\n";
  for (const auto& s : a.scenes) {
    auto in = edl_timecode(s.start_time, fps), o = edl_timecode(s.end_time, fps);
    char num[16];
    std::snprintf(num, sizeof num, "%03d", s.index + 1);
    out += std::string(num) + "  AX V     C        " + in + " " + o + " " + in + " " + o + "\n";
  }
  return out;
}

}  // namespace facecat::video
