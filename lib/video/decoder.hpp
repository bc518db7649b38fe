// Video decoding for scene detection, on FFmpeg's libavformat/libavcodec/libswscale (the libraries behind
// OpenCV's FFmpeg backend), for two reasons measured on OpenCV 4.6:
//  - speed: cv::VideoCapture::retrieve() always converts the full frame to BGR (CAP_PROP_CONVERT_RGB is ignored
//    by the 4.6 FFmpeg backend), which costs more than decoding itself; here the YUV planes are scaled to the
//    ~256 px analysis size first and only the small frame is converted ("scale while converting").
//  - correctness: OpenCV 4.6 auto-rotates a "rotate=90" (display matrix -90°) clip the wrong way round (180° off
//    from ffmpeg and players); here rotation follows ffmpeg's autorotate.
// Frame times come from each frame's PTS (best-effort timestamp), so variable-frame-rate video is timed right.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include <opencv2/core.hpp>

#include "util/result.hpp"

namespace facecat::video {

struct VideoInfo {
  int width = 0, height = 0;     // stored frame, before rotation and aspect correction
  int rotation = 0;              // clockwise degrees applied for display: 0, 90, 180, 270 (ffmpeg's autorotate)
  double sar = 1.0;              // sample (pixel) aspect ratio
  double fps = 0;                // average frame rate (avg_frame_rate; r_frame_rate when absent)
  double nominal_fps = 0;        // r_frame_rate (timecodes in EDL files)
  int64_t declared_frames = 0;   // the header's frame count (nb_frames), else duration × fps; 0 = unknown
  bool declared_exact = false;   // declared_frames came from the header, not from an estimate
  double duration = 0;           // seconds (stream, else container); 0 = unknown
  std::string codec;             // "h264"
  std::string container;         // "mov,mp4,m4a,3gp,3g2,mj2"
  // The displayed frame size (aspect corrected, then rotated).
  int display_width() const;
  int display_height() const;
};

struct FrameStamp {
  int64_t pts = 0;    // in stream ticks (what frame_at() seeks to)
  double time = 0;    // seconds from the container's start
};

class Decoder {
 public:
  ~Decoder();
  Decoder(const Decoder&) = delete;
  Decoder& operator=(const Decoder&) = delete;

  // Opens the file's first video stream (cover art is not video). Errors say why in one line: not a media
  // file / corrupt header, no video stream (audio only), a codec this FFmpeg cannot decode.
  static Result<std::unique_ptr<Decoder>> open(const std::filesystem::path& path, int threads = 0);

  const VideoInfo& info() const { return info_; }

  // next() scales every frame while converting it to BGR into this size (stored orientation).
  void set_output_size(cv::Size size) { out_size_ = size; }
  // The next frame in presentation order. out == nullptr: decode only (no conversion). false at the end.
  // *out refers to the decoder's own buffer: the next call overwrites it (clone() to keep a frame).
  // luma: also the frame's luma (Y) plane at the output size, as decoded (limited range for most video).
  bool next(FrameStamp& stamp, cv::Mat* out, cv::Mat* luma = nullptr);

  // Keeping frames during the first pass, so that representative frames need no second decode: next() keeps a
  // reference to each full-resolution frame (no copy: the decoder's buffer pool grows instead) while the kept
  // frames take at most max_bytes; 0 (the default) keeps none. Frames are named by their decode ordinal.
  void set_retain(size_t max_bytes);
  // Lets go of the kept frames before this ordinal.
  void release_retained_before(int64_t ordinal);
  bool is_retained(int64_t ordinal) const;
  // A kept frame as a full-resolution display frame (as frame_at() gives it); empty when it was not kept.
  cv::Mat retained_frame(int64_t ordinal);
  // The ordinal of the frame next() returned last (while frames are counted from the start), else -1.
  int64_t ordinal() const { return counting_ ? ordinal_ : -1; }

  // The full-resolution display frame (aspect corrected, rotated) with this PTS: decoded forward when it is
  // close ahead, else after a seek; falls back to decoding from the start and counting to `ordinal`.
  Result<cv::Mat> frame_at(int64_t pts, int64_t ordinal);

  int decode_errors() const { return errors_; }
  const std::string& first_error() const { return first_error_; }
  // False when some frames had no usable PTS (then times are synthesized and seeking counts frames).
  bool pts_reliable() const { return pts_reliable_; }

  // The analysis size PySceneDetect uses: long side scaled to `long_side` (no upscaling), rounded.
  static cv::Size analysis_size(int width, int height, int long_side = 256);

  struct Impl;  // libav* state (decoder.cpp)

 private:
  explicit Decoder(std::unique_ptr<Impl> impl);
  bool decode_next(FrameStamp& stamp);
  cv::Mat convert_full(const void* av_frame);
  Result<void> reopen();

  std::unique_ptr<Impl> impl_;
  VideoInfo info_;
  cv::Size out_size_;
  int errors_ = 0;
  std::string first_error_;
  bool pts_reliable_ = true;
  int64_t ordinal_ = -1;         // ordinal of the frame decoded last, while counting_
  bool counting_ = true;         // false after a seek: ordinals are unknown then
  bool have_last_ = false;
  int64_t last_pts_ = 0;
};

}  // namespace facecat::video
