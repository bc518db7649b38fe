// Scene detection over a whole video and the choice and extraction of representative frames.
// One decoding pass at analysis size (~256 px) feeds the detectors and records, per frame, its timestamp,
// content score, brightness and sharpness. The same pass keeps the full-resolution frames that may become a
// scene's representative (from the running middle of the open scene on, within a memory budget) and encodes the
// picks of each scene as soon as its cut is known; only picks that were not kept are fetched again by seeking.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "util/result.hpp"
#include "video/decoder.hpp"
#include "video/detectors.hpp"

namespace facecat::video {

enum class DetectorKind { Content, Adaptive, Threshold };
const char* detector_name(DetectorKind k);
Result<std::vector<DetectorKind>> parse_detectors(const std::string& comma_separated);

struct Options {
  std::vector<DetectorKind> detectors{DetectorKind::Content};
  ContentParams content{};
  AdaptiveParams adaptive{};
  ThresholdParams threshold{};
  int analysis_long_side = 256;
  int threads = 0;                 // decoder threads; 0 = one per core
  int frames_per_scene = 1;
  double black_level = 12.0;       // a frame whose mean BGR byte is below this is black
  double blur_ratio = 0.5;         // blurred: sharpness below this share of the sharpest frame nearby
  int jpeg_quality = 92;
  bool keep_frames = false;        // analyze() prepares the representative frames (see Analysis::ready)
  size_t frame_memory = 512u << 20;  // bytes of kept full-resolution frames, and again of ready JPEGs
  // Where ready JPEGs beyond jpeg_memory go, in an unnamed temp file (nothing is left there however the process
  // ends); empty: they stay in memory, up to frame_memory, and later picks are fetched by seeking.
  std::filesystem::path spill_dir;
  size_t jpeg_memory = 64u << 20;
  // What identifies a task's results: the same video with the same params replaces its old task.
  nlohmann::json params() const;
};

struct Scene {
  int index = 0;
  int64_t start_frame = 0, end_frame = 0;  // [start, end), decoded-frame ordinals
  double start_time = 0, end_time = 0;     // seconds, from the frames' timestamps
  double score = 0;                        // detector metric at the cut (content score); 0 for the first scene
  std::string detector;                    // which detector found the cut ("" for the first scene)
};

// An unnamed temp file that ready JPEGs are appended to (scenes.cpp).
class SpillFile;

struct EncodedFrame {
  std::vector<unsigned char> jpeg;       // the JPEG in memory, or
  std::shared_ptr<SpillFile> spill;      // in the spill file at [offset, offset + size)
  int64_t offset = 0, size = 0;
  int width = 0, height = 0;
  // The JPEG bytes, read back from the spill file when they are there.
  Result<std::vector<unsigned char>> bytes() const;
};

struct Analysis {
  VideoInfo info;
  int64_t frames = 0;                      // decoded
  std::vector<int64_t> pts;                // per frame, stream ticks
  std::vector<double> times;               // per frame, seconds
  std::vector<float> content, brightness, sharpness;
  std::vector<int64_t> cuts;               // first frames of new shots, ascending
  std::vector<Scene> scenes;
  double end_time = 0;                     // end of the last frame
  int decode_errors = 0;
  std::string first_error;
  std::string warning;                     // usable, but something was off
  // Options::keep_frames: the picks of scenes closed during the pass, already encoded, by frame ordinal.
  std::map<int64_t, EncodedFrame> ready;
  int64_t spilled = 0;                     // how many of them are in the spill file
};

using FrameProgress = std::function<void(int64_t frames_done)>;

// Decodes the whole video once and detects cuts. Errors (nothing decodable, truncated, corrupt) say why.
// Throws Interrupted when a stop was requested.
Result<Analysis> analyze(Decoder& dec, const Options& opts, const FrameProgress& progress = {});

// Scenes from sorted cuts over n frames ([0,c1), [c1,c2), ..., [ck,n)), timed by the frames' timestamps.
std::vector<Scene> make_scenes(const std::vector<int64_t>& cuts, int64_t n, const std::vector<double>& times,
                               double end_time);

struct Pick {
  int scene = 0;
  int n = 0;                 // 1-based image number within the scene
  int64_t frame = 0;
  int64_t pts = 0;
  double time = 0;
  std::string reason;        // middle | sharpest (the middle frame was black or blurred) | black (no better one)
};

// The representative frames: per scene, `per_scene` frames at evenly spaced timestamps (the middle for 1);
// a black or blurred one is replaced by the sharpest non-black frame in the middle half of its stretch.
std::vector<Pick> pick_frames(const Analysis& a, int per_scene, double black_level, double blur_ratio);

struct SavedFrame {
  Pick pick;
  std::filesystem::path path;
  int width = 0, height = 0;
  int64_t size = 0;
  std::string hash;          // XXH3-128 of the JPEG bytes
};

// The JPEG bytes of an image as save_frames() writes them.
bool encode_jpeg(const cv::Mat& bgr, int quality, std::vector<unsigned char>& out);

// Fetches each pick at full resolution (display orientation) and writes it as a JPEG, atomically: taken from
// `ready` (encoded during the analysis) when it is there, else from the decoder's kept frames, else by seeking.
// File names: <dir>/<stem>-Scene-<NNN>-<MM>.jpg. On error, the files written by this call are removed again.
Result<std::vector<SavedFrame>> save_frames(Decoder& dec, const std::vector<Pick>& picks,
                                            const std::filesystem::path& dir, const std::string& stem,
                                            int scene_count, int jpeg_quality,
                                            const std::map<int64_t, EncodedFrame>* ready = nullptr);

// "HH:MM:SS.mmm" (PySceneDetect's timecode).
std::string timecode(double seconds);
// PySceneDetect list-scenes CSV: the "Timecode List:" row, then one row per scene.
std::string scenes_csv(const Analysis& a);
// Per-frame metrics (PySceneDetect's stats file layout): Frame Number, Timecode, content_val, average, sharpness.
std::string stats_csv(const Analysis& a);
// CMX 3600 EDL, one event per scene, timecodes HH:MM:SS:FF at the nominal frame rate.
std::string scenes_edl(const Analysis& a, const std::string& title);

}  // namespace facecat::video
