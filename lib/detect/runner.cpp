#include "detect/runner.hpp"

#include <spdlog/spdlog.h>
#include <opencv2/core/utility.hpp>
#include <tbb/enumerable_thread_specific.h>
#include <tbb/info.h>
#include <tbb/parallel_pipeline.h>
#include <tbb/task_arena.h>

#include <chrono>
#include <cmath>
#include <memory>
#include <set>

#include "core/signals.hpp"
#include "util/atomic_file.hpp"
#include "util/hash.hpp"
#include "util/text.hpp"

namespace facecat::detect {
namespace fs = std::filesystem;

face::DetectParams detect_params(const Options& o) {
  face::DetectParams d;
  const auto& p = o.params;
  d.min_face = p.min_face;
  d.min_face_fraction = p.min_face_fraction;
  d.upsample = p.upsample;
  d.max_pixels = o.max_pixels;
  d.landmarks = p.landmarks;
  d.describe = p.landmarks && !p.model.empty();
  d.chip_size = p.chip_size;
  d.chip_padding = p.chip_padding;
  d.crop_margin = p.crop_margin;
  d.jitter = p.jitter;
  d.reduced_decode = p.decode == "reduced";
  d.keep_crops = !o.crops_dir.empty();
  d.keep_chips = !o.chips_dir.empty() && d.landmarks;
  d.adjust_threshold = p.threshold;
  d.detector = p.detector;
  return d;
}

std::string face_id(const std::string& hash, const std::string& version, int index) {
  return hash + "_" + version + "_" + std::to_string(index);
}

fs::path crop_folder(const fs::path& crops_dir, const std::string& hash) {
  return crops_dir / (hash.size() >= 2 ? hash.substr(0, 2) : std::string("xx"));
}

namespace {
// Division by a power of ten gives the double nearest the decimal (0.9298, not 0.9298000000000001).
double round_to(double v, double per_unit) { return std::round(v * per_unit) / per_unit; }
}  // namespace

Outcome analyze_one(face::FaceAnalyzer& an, const Options& o, const face::DetectParams& dp, const Input& in,
                    const std::string& bytes, const std::string& read_error) {
  Outcome out;
  auto& r = out.rec;
  r.file = in.path;
  r.pipeline_version = o.version;
  r.pipeline_name = o.pipeline_name;
  r.pipeline_params = o.params;
  r.model_id = o.params.landmarks ? o.params.model : std::string();
  if (!read_error.empty()) {
    r.error = read_error;
    out.retry = true;
    return out;
  }
  r.file_hash = util::xxh3_128_hex(bytes);
  if (!in.expected_hash.empty() && in.expected_hash != r.file_hash) {
    r.error = "the file changed since it was scanned (hash " + r.file_hash + ", catalog has " + in.expected_hash +
              "); run facecat-scan again";
    out.retry = true;
    return out;
  }
  Result<face::ImageFaces> res = make_error("not analysed");
  try {
    res = an.analyze_bytes(bytes, dp);
  } catch (const std::exception& e) {
    r.error = std::string("unexpected failure: ") + e.what();
    out.retry = true;
    return out;
  }
  if (!res) {
    r.error = res.error().message;
    return out;
  }
  for (const auto& w : res->warnings) spdlog::warn("{}: decoded despite: {}", util::utf8_lossy(in.path), w);
  r.width = res->width;
  r.height = res->height;
  out.decode_ms = res->decode_ms;
  out.detect_ms = res->detect_ms;
  out.landmarks_ms = res->landmarks_ms;
  out.describe_ms = res->describe_ms;
  const auto t_crops = std::chrono::steady_clock::now();
  if (dp.describe && !res->faces.empty() && res->model_id != r.model_id) {
    r.error = "descriptors came from model " + res->model_id + ", not the pipeline's " + r.model_id;
    out.retry = true;
    return out;
  }
  int i = 0;
  for (auto& f : res->faces) {
    faces_store::FaceRow row;
    row.index = i;
    row.x = f.box.left;
    row.y = f.box.top;
    row.w = f.box.width();
    row.h = f.box.height();
    row.conf = f.score;
    if (f.has_descriptor) row.descriptor = faces_store::floats_to_blob(f.descriptor.data(), f.descriptor.size());
    if (!f.landmarks.empty()) {
      std::vector<float> v;
      v.reserve(f.landmarks.size() * 2);
      for (const auto& p : f.landmarks) {
        v.push_back(p.x);
        v.push_back(p.y);
      }
      row.landmarks = faces_store::floats_to_blob(v.data(), v.size());
    }
    row.quality = {{"size", f.size}};
    if (!f.landmarks.empty()) {
      row.quality["blur"] = round_to(f.blur, 100);
      row.quality["frontal"] = round_to(f.frontalness, 10000);
    }
    if (!f.hog_box) row.quality["hog_box"] = false;  // ultraface: a face HOG did not confirm (conf is the CNN's)
    // Crops and chips are written (atomically) before the catalog transaction: a committed face has its files.
    using Writer = Result<fs::path> (*)(const face::Face&, const fs::path&, const std::string&);
    auto write = [&](bool want, Writer fn, const fs::path& dir, const char* what, std::string& path_out) {
      if (!want) return true;
      auto w = fn(f, crop_folder(dir, r.file_hash), face_id(r.file_hash, o.version, i));
      if (!w) {
        r.error = std::string("cannot write a face ") + what + ": " + w.error().message;
        r.faces.clear();
        out.retry = true;
        return false;
      }
      path_out = w->string();
      return true;
    };
    if (!write(dp.keep_crops && !f.crop_jpeg.empty(), &face::write_crop, o.crops_dir, "crop", row.crop_path) ||
        !write(dp.keep_chips && !f.chip.rgb.empty(), &face::write_chip, o.chips_dir, "chip", row.chip_path))
      return out;
    r.faces.push_back(std::move(row));
    ++i;
  }
  out.crops_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t_crops).count();
  return out;
}

Stats run(const face::FaceAnalyzer& proto, const Options& o, const Source& source, const Sink& sink) {
  struct Work {
    Input in;
    std::string bytes, read_error;
    double read_ms = 0;
    Outcome out;
  };
  using W = std::shared_ptr<Work>;
  const int threads = o.threads > 0 ? o.threads : std::max(1, tbb::info::default_concurrency());
  const face::DetectParams dp = detect_params(o);
  tbb::enumerable_thread_specific<face::FaceAnalyzer> analyzers(proto);
  // Files are the unit of parallelism (one analyzer per worker): OpenCV's own threads (DNN layers, resizes) run
  // single-threaded inside each worker. Measured: one descriptor encoder with OpenCV's 2 threads was slower per
  // chip than two single-threaded encoders (bench/README.md). Restored when the run ends.
  const int cv_threads_before = cv::getNumThreads();
  cv::setNumThreads(1);
  struct RestoreCv {
    int n;
    ~RestoreCv() { cv::setNumThreads(n); }
  } restore_cv{cv_threads_before};
  Stats st;
  tbb::task_arena arena(threads);
  arena.execute([&] {
    tbb::parallel_pipeline(
        size_t(threads) * 2 + 1,
        tbb::make_filter<void, W>(tbb::filter_mode::serial_in_order,
                                  [&](tbb::flow_control& fc) -> W {
                                    if (interrupted()) {
                                      fc.stop();
                                      return nullptr;
                                    }
                                    auto in = source();
                                    if (!in) {
                                      fc.stop();
                                      return nullptr;
                                    }
                                    auto w = std::make_shared<Work>();
                                    w->in = std::move(*in);
                                    return w;
                                  }) &
            tbb::make_filter<W, W>(tbb::filter_mode::parallel,
                                   [&](W w) {
                                     if (!w->in.error.empty()) {
                                       w->read_error = w->in.error;
                                       return w;
                                     }
                                     const auto t0 = std::chrono::steady_clock::now();
                                     auto b = util::read_file(w->in.path, size_t(2) << 30);
                                     w->read_ms = std::chrono::duration<double, std::milli>(
                                                      std::chrono::steady_clock::now() - t0).count();
                                     if (b)
                                       w->bytes = std::move(*b);
                                     else
                                       w->read_error = "cannot read: " + b.error().message;
                                     return w;
                                   }) &
            tbb::make_filter<W, W>(tbb::filter_mode::parallel,
                                   [&](W w) {
                                     w->out = analyze_one(analyzers.local(), o, dp, w->in, w->bytes, w->read_error);
                                     w->out.read_ms = w->read_ms;
                                     std::string().swap(w->bytes);
                                     return w;
                                   }) &
            tbb::make_filter<W, void>(tbb::filter_mode::serial_in_order, [&](W w) {
              ++st.files;
              if (!w->out.rec.error.empty()) ++st.errors;
              st.faces += int64_t(w->out.rec.faces.size());
              const auto& u = w->out;
              st.read_ms += u.read_ms;
              st.decode_ms += u.decode_ms;
              st.detect_ms += u.detect_ms;
              st.landmarks_ms += u.landmarks_ms;
              st.describe_ms += u.describe_ms;
              st.crops_ms += u.crops_ms;
              spdlog::debug("{}: {} face(s); read {:.1f} ms, decode {:.1f}, detect {:.1f}, landmarks {:.1f}, "
                            "describe {:.1f}, crops {:.1f}",
                            util::utf8_lossy(u.rec.file), u.rec.faces.size(), u.read_ms, u.decode_ms, u.detect_ms,
                            u.landmarks_ms, u.describe_ms, u.crops_ms);
              sink(w->out);
            }));
  });
  return st;
}

int sweep_temp_crops(const fs::path& crops_dir, const std::vector<std::string>& hashes) {
  std::set<std::string> want(hashes.begin(), hashes.end());
  std::set<fs::path> dirs;
  std::error_code ec;
  for (fs::directory_iterator it(crops_dir, ec), end; !ec && it != end; it.increment(ec))
    if (it->is_directory(ec)) dirs.insert(it->path());
  const auto cutoff = fs::file_time_type::clock::now() - std::chrono::hours(1);
  int removed = 0;
  for (const auto& d : dirs) {
    for (fs::directory_iterator it(d, ec), end; !ec && it != end; it.increment(ec)) {
      const std::string n = it->path().filename().string();
      if (n.size() < 34 || !util::is_atomic_temp_name(n)) continue;
      const std::string hash = n.substr(1, 32);
      std::error_code e2;
      const bool old = it->last_write_time(e2) < cutoff && !e2;
      if (!want.count(hash) && !old) continue;
      if (fs::remove(it->path(), e2)) ++removed;
    }
  }
  if (removed) spdlog::info("removed {} temp crop(s) left by an interrupted run in {}", removed, crops_dir.string());
  return removed;
}

}  // namespace facecat::detect
