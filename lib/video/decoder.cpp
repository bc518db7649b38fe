#include "video/decoder.hpp"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/display.h>
#include <libavutil/log.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>
}

#include <spdlog/spdlog.h>

#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <deque>
#include <mutex>

#include <opencv2/imgproc.hpp>

namespace facecat::video {

namespace {

std::string av_err(int rc) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {0};
  av_strerror(rc, buf, sizeof buf);
  return buf;
}

// libav* would print to stderr on its own; its messages go to spdlog (debug) instead: the library never prints,
// and facecat reports one clear line per bad file itself.
void av_log_to_spdlog(void* avcl, int level, const char* fmt, va_list vl) {
  if (level > AV_LOG_WARNING || !spdlog::should_log(spdlog::level::debug)) return;
  char line[1024];
  int print_prefix = 1;
  av_log_format_line(avcl, level, fmt, vl, line, sizeof line, &print_prefix);
  std::string s(line);
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  if (!s.empty()) spdlog::debug("ffmpeg: {}", s);
}

void init_av_logging() {
  static std::once_flag once;
  std::call_once(once, [] { av_log_set_callback(av_log_to_spdlog); });
}

double q2d(AVRational r) { return r.num && r.den ? static_cast<double>(r.num) / r.den : 0.0; }

std::string fourcc(uint32_t tag) {
  std::string s;
  for (int i = 0; i < 4; ++i) {
    char c = static_cast<char>((tag >> (8 * i)) & 0xff);
    s += (c >= 32 && c < 127) ? c : '?';
  }
  return s;
}

}  // namespace

struct Decoder::Impl {
  std::filesystem::path path;
  int threads = 0;
  AVFormatContext* fmt = nullptr;
  AVCodecContext* cc = nullptr;
  AVPacket* pkt = nullptr;
  AVFrame* frame = nullptr;
  SwsContext* sws_small = nullptr;
  SwsContext* sws_full = nullptr;
  SwsContext* sws_rgb = nullptr;
  cv::Mat yuv[3];           // next()'s small YUV 4:2:0 planes (even height)
  cv::Mat bgr;              // next()'s small BGR frame (even height)
  int stream = -1;
  AVRational tb{1, 1};
  int64_t origin = 0;       // container start in stream ticks
  int64_t tick_per_frame = 1;
  bool flushing = false;    // the demuxer is at its end; the decoder is being drained
  bool drained = false;
  struct Kept {
    int64_t ordinal;
    AVFrame* frame;
    size_t bytes;
  };
  // set_retain(): references to full-resolution frames, ascending ordinals. Guarded by kept_mu: next() may run
  // on a decoding thread while the analysis thread lets frames go and converts them.
  std::mutex kept_mu;
  std::deque<Kept> kept;
  size_t kept_bytes = 0, keep_max = 0;

  // Kept frames outlive close(): they hold their own buffer references, and a reopen() must not lose them.
  ~Impl() {
    close();
    release_before(INT64_MAX);
  }
  void release_before(int64_t ordinal) {
    std::lock_guard<std::mutex> lk(kept_mu);
    while (!kept.empty() && kept.front().ordinal < ordinal) {
      kept_bytes -= kept.front().bytes;
      av_frame_free(&kept.front().frame);
      kept.pop_front();
    }
  }
  void close() {
    if (sws_small) sws_freeContext(sws_small);
    if (sws_full) sws_freeContext(sws_full);
    if (sws_rgb) sws_freeContext(sws_rgb);
    sws_small = sws_full = sws_rgb = nullptr;
    if (frame) av_frame_free(&frame);
    if (pkt) av_packet_free(&pkt);
    if (cc) avcodec_free_context(&cc);
    if (fmt) avformat_close_input(&fmt);
  }
};

Decoder::Decoder(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Decoder::~Decoder() = default;

int VideoInfo::display_width() const {
  int w = sar > 0 && std::abs(sar - 1.0) > 1e-3 ? static_cast<int>(std::lround(width * sar)) : width;
  return rotation % 180 ? height : w;
}
int VideoInfo::display_height() const {
  int w = sar > 0 && std::abs(sar - 1.0) > 1e-3 ? static_cast<int>(std::lround(width * sar)) : width;
  return rotation % 180 ? w : height;
}

cv::Size Decoder::analysis_size(int width, int height, int long_side) {
  const int longest = std::max(width, height);
  if (longest <= long_side || long_side <= 0) return {width, height};
  const double f = static_cast<double>(longest) / long_side;
  // Python's round() (half to even), as PySceneDetect computes it.
  auto r = [](double v) { return std::max(1, static_cast<int>(std::nearbyint(v))); };
  return {r(width / f), r(height / f)};
}

static Result<void> open_impl(Decoder::Impl& d, VideoInfo& info) {
  const std::string p = d.path.string();
  int rc = avformat_open_input(&d.fmt, p.c_str(), nullptr, nullptr);
  if (rc < 0) {
    d.fmt = nullptr;
    if (rc == AVERROR_INVALIDDATA) return make_error("not a video FFmpeg can read (unknown format or corrupt header)");
    return make_error("cannot open: " + av_err(rc));
  }
  rc = avformat_find_stream_info(d.fmt, nullptr);
  if (rc < 0) return make_error("cannot read the stream headers: " + av_err(rc));
  int audio = 0;
  for (unsigned i = 0; i < d.fmt->nb_streams; ++i) {
    AVStream* s = d.fmt->streams[i];
    if (s->codecpar->codec_type == AVMEDIA_TYPE_AUDIO) ++audio;
    if (s->codecpar->codec_type != AVMEDIA_TYPE_VIDEO) continue;
    if (s->disposition & AV_DISPOSITION_ATTACHED_PIC) continue;  // cover art
    if (d.stream < 0) d.stream = static_cast<int>(i);
  }
  if (d.stream < 0)
    return make_error(audio ? "no video stream: the file has only audio" : "no video stream in the file");
  AVStream* st = d.fmt->streams[d.stream];
  const AVCodecParameters* par = st->codecpar;
  const AVCodec* codec = avcodec_find_decoder(par->codec_id);
  const char* cname = avcodec_get_name(par->codec_id);
  if (!codec) {
    std::string what = par->codec_id == AV_CODEC_ID_NONE ? "unknown video codec" : std::string("video codec ") + cname;
    if (par->codec_tag) what += " (fourcc " + fourcc(par->codec_tag) + ")";
    return make_error(what + " is not supported by this FFmpeg build");
  }
  if (par->width <= 0 || par->height <= 0) return make_error("the video stream has no frame size");
  d.cc = avcodec_alloc_context3(codec);
  if (!d.cc) return make_error("out of memory");
  rc = avcodec_parameters_to_context(d.cc, par);
  if (rc < 0) return make_error("bad codec parameters: " + av_err(rc));
  d.cc->thread_count = d.threads;  // 0 = one per core
  d.cc->pkt_timebase = st->time_base;
  rc = avcodec_open2(d.cc, codec, nullptr);
  if (rc < 0) return make_error(std::string("cannot open the ") + cname + " decoder: " + av_err(rc));
  d.pkt = av_packet_alloc();
  d.frame = av_frame_alloc();
  if (!d.pkt || !d.frame) return make_error("out of memory");
  d.tb = st->time_base;
  if (d.fmt->start_time != AV_NOPTS_VALUE) d.origin = av_rescale_q(d.fmt->start_time, AV_TIME_BASE_Q, d.tb);
  else if (st->start_time != AV_NOPTS_VALUE) d.origin = st->start_time;

  info.width = par->width;
  info.height = par->height;
  info.codec = cname;
  info.container = d.fmt->iformat && d.fmt->iformat->name ? d.fmt->iformat->name : "";
  AVRational sar = av_guess_sample_aspect_ratio(d.fmt, st, nullptr);
  info.sar = sar.num > 0 && sar.den > 0 ? q2d(sar) : 1.0;
  info.nominal_fps = q2d(st->r_frame_rate);
  info.fps = q2d(st->avg_frame_rate);
  if (info.fps <= 0) info.fps = info.nominal_fps;
  if (st->duration != AV_NOPTS_VALUE && st->duration > 0) info.duration = st->duration * q2d(d.tb);
  else if (d.fmt->duration != AV_NOPTS_VALUE && d.fmt->duration > 0) info.duration = d.fmt->duration / 1e6;
  if (st->nb_frames > 0) {
    info.declared_frames = st->nb_frames;
    info.declared_exact = true;
  } else if (info.duration > 0 && info.fps > 0) {
    info.declared_frames = static_cast<int64_t>(std::floor(info.duration * info.fps + 0.5));
  }
  // ffmpeg's autorotate: theta = -rotation of the display matrix, normalised to [0, 360).
  if (const uint8_t* sd = av_stream_get_side_data(st, AV_PKT_DATA_DISPLAYMATRIX, nullptr)) {
    double theta = -std::round(av_display_rotation_get(reinterpret_cast<const int32_t*>(sd)));
    theta -= 360 * std::floor(theta / 360 + 0.9 / 360);
    int r = static_cast<int>(std::lround(theta / 90.0)) * 90 % 360;
    info.rotation = r < 0 ? r + 360 : r;
  }
  const double fps_for_ticks = info.fps > 0 ? info.fps : 25.0;
  d.tick_per_frame = std::max<int64_t>(1, static_cast<int64_t>(std::llround(1.0 / (fps_for_ticks * q2d(d.tb)))));
  return {};
}

Result<std::unique_ptr<Decoder>> Decoder::open(const std::filesystem::path& path, int threads) {
  init_av_logging();
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->threads = threads;
  VideoInfo info;
  auto r = open_impl(*impl, info);
  if (!r) return r.error();
  std::unique_ptr<Decoder> d(new Decoder(std::move(impl)));
  d->info_ = info;
  return d;
}

Result<void> Decoder::reopen() {
  impl_->close();
  impl_->stream = -1;
  impl_->flushing = impl_->drained = false;
  VideoInfo info;
  FACECAT_TRY(open_impl(*impl_, info));
  ordinal_ = -1;
  counting_ = true;
  have_last_ = false;
  return {};
}

// Decodes the next frame into impl_->frame. Errors in the stream are counted and skipped.
bool Decoder::decode_next(FrameStamp& stamp) {
  Impl& d = *impl_;
  auto note_error = [&](const std::string& what) {
    if (errors_++ == 0) first_error_ = what;
  };
  for (;;) {
    if (d.drained) return false;
    int rc = avcodec_receive_frame(d.cc, d.frame);
    if (rc == 0) {
      int64_t pts = d.frame->best_effort_timestamp;
      if (pts == AV_NOPTS_VALUE || (have_last_ && pts <= last_pts_)) {
        // No usable timestamp: continue the sequence at the nominal rate; seeking then counts frames.
        pts = have_last_ ? last_pts_ + d.tick_per_frame : d.origin;
        pts_reliable_ = false;
      }
      have_last_ = true;
      last_pts_ = pts;
      if (counting_) ++ordinal_;
      stamp.pts = pts;
      stamp.time = static_cast<double>(pts - d.origin) * q2d(d.tb);
      return true;
    }
    if (rc == AVERROR_EOF) {
      d.drained = true;
      return false;
    }
    if (rc != AVERROR(EAGAIN)) {
      note_error("decode error: " + av_err(rc));
      if (d.flushing) {
        d.drained = true;
        return false;
      }
      continue;
    }
    if (d.flushing) {  // EAGAIN while draining should not happen; stop rather than spin
      d.drained = true;
      return false;
    }
    rc = av_read_frame(d.fmt, d.pkt);
    if (rc < 0) {
      if (rc != AVERROR_EOF) note_error("read error: " + av_err(rc));
      d.flushing = true;
      avcodec_send_packet(d.cc, nullptr);
      continue;
    }
    if (d.pkt->stream_index == d.stream) {
      rc = avcodec_send_packet(d.cc, d.pkt);
      if (rc < 0 && rc != AVERROR(EAGAIN)) note_error("decode error: " + av_err(rc));
    }
    av_packet_unref(d.pkt);
  }
}

void Decoder::set_retain(size_t max_bytes) {
  {
    std::lock_guard<std::mutex> lk(impl_->kept_mu);
    impl_->keep_max = max_bytes;
  }
  if (!max_bytes) impl_->release_before(INT64_MAX);
}

void Decoder::release_retained_before(int64_t ordinal) { impl_->release_before(ordinal); }

bool Decoder::is_retained(int64_t ordinal) const {
  std::lock_guard<std::mutex> lk(impl_->kept_mu);
  const auto& k = impl_->kept;
  auto it = std::lower_bound(k.begin(), k.end(), ordinal,
                             [](const Impl::Kept& x, int64_t o) { return x.ordinal < o; });
  return it != k.end() && it->ordinal == ordinal;
}

cv::Mat Decoder::retained_frame(int64_t ordinal) {
  AVFrame* ref = nullptr;  // a reference of its own, so that the conversion runs without the lock
  {
    std::lock_guard<std::mutex> lk(impl_->kept_mu);
    const auto& k = impl_->kept;
    auto it = std::lower_bound(k.begin(), k.end(), ordinal,
                               [](const Impl::Kept& x, int64_t o) { return x.ordinal < o; });
    if (it == k.end() || it->ordinal != ordinal) return {};
    ref = av_frame_clone(it->frame);
  }
  if (!ref) return {};
  cv::Mat m = convert_full(ref);
  av_frame_free(&ref);
  return m;
}

namespace {
// The planar 8-bit YUV layouts whose planes are scaled one by one with OpenCV, and the 4:2:0 format they are
// scaled to (full-range "J" formats stay full range).
AVPixelFormat planar_420(int fmt) {
  switch (fmt) {
    case AV_PIX_FMT_YUV420P:
    case AV_PIX_FMT_YUV422P:
    case AV_PIX_FMT_YUV444P:
    case AV_PIX_FMT_YUV440P:
    case AV_PIX_FMT_YUV411P:
    case AV_PIX_FMT_YUV410P:
      return AV_PIX_FMT_YUV420P;
    case AV_PIX_FMT_YUVJ420P:
    case AV_PIX_FMT_YUVJ422P:
    case AV_PIX_FMT_YUVJ444P:
    case AV_PIX_FMT_YUVJ440P:
    case AV_PIX_FMT_YUVJ411P:
      return AV_PIX_FMT_YUVJ420P;
    default:
      return AV_PIX_FMT_NONE;
  }
}
}  // namespace

bool Decoder::next(FrameStamp& stamp, cv::Mat* out, cv::Mat* luma) {
  if (!decode_next(stamp)) return false;
  Impl& d = *impl_;
  AVFrame* f = d.frame;
  std::unique_lock<std::mutex> lk(d.kept_mu);
  if (d.keep_max && counting_) {
    size_t bytes = 0;
    for (auto* b : f->buf)
      if (b) bytes += b->size;
    if (d.kept_bytes + bytes <= d.keep_max && (d.kept.empty() || d.kept.back().ordinal < ordinal_)) {
      if (AVFrame* c = av_frame_clone(f)) {
        d.kept.push_back({ordinal_, c, bytes});
        d.kept_bytes += bytes;
      }
    }
  }
  lk.unlock();
  if (!out) return true;
  cv::Size sz = out_size_.area() > 0 ? out_size_ : cv::Size(f->width, f->height);
  auto fail = [&] {
    if (errors_++ == 0) first_error_ = "cannot convert the frame's pixel format";
    return false;
  };
  // The conversion to BGR runs on an even number of rows (swscale's fast YUV->RGB path needs one); an odd
  // analysis height gets a repeated last row that the returned frame leaves out.
  const int rows = sz.height + (sz.height & 1);
  // The small YUV 4:2:0 planes between the two conversion steps.
  const cv::Size csz((sz.width + 1) / 2, rows / 2);
  d.yuv[0].create(rows, sz.width, CV_8UC1);
  for (int i = 1; i < 3; ++i) d.yuv[i].create(csz, CV_8UC1);
  uint8_t* mid[4] = {d.yuv[0].data, d.yuv[1].data, d.yuv[2].data, nullptr};
  int mid_ls[4] = {static_cast<int>(d.yuv[0].step[0]), static_cast<int>(d.yuv[1].step[0]),
                   static_cast<int>(d.yuv[2].step[0]), 0};
  const AVPixelFormat p420 = planar_420(f->format);
  if (p420 != AV_PIX_FMT_NONE) {
    // Planar YUV (nearly all video): each plane is scaled straight to the analysis size (chroma to half of it)
    // with OpenCV's bilinear resize, as PySceneDetect's downscale; then swscale's unscaled (SIMD) YUV 4:2:0 ->
    // BGR path converts the small frame. Grey stays exactly grey on that path.
    const AVPixFmtDescriptor* desc = av_pix_fmt_desc_get(static_cast<AVPixelFormat>(f->format));
    d.sws_rgb = sws_getCachedContext(d.sws_rgb, sz.width, rows, p420, sz.width, rows, AV_PIX_FMT_BGR24, SWS_POINT,
                                     nullptr, nullptr, nullptr);
    if (!desc || !d.sws_rgb) return fail();
    for (int i = 0; i < 3; ++i) {
      const int pw = i ? AV_CEIL_RSHIFT(f->width, desc->log2_chroma_w) : f->width;
      const int ph = i ? AV_CEIL_RSHIFT(f->height, desc->log2_chroma_h) : f->height;
      const cv::Size want = i ? csz : sz;
      cv::Mat plane(ph, pw, CV_8UC1, f->data[i], static_cast<size_t>(f->linesize[i]));
      cv::Mat dst = d.yuv[i].rowRange(0, want.height);
      if (plane.size() == want) plane.copyTo(dst);
      else cv::resize(plane, dst, want, 0, 0, cv::INTER_LINEAR);
    }
    if (rows != sz.height) d.yuv[0].row(sz.height - 1).copyTo(d.yuv[0].row(sz.height));
  } else {
    // Other formats: the planes are area-averaged straight to the small size as YUV 4:2:0 by swscale, then
    // converted to BGR there. (A direct scaled YUV->BGR sws pass is either slower with full chroma
    // interpolation, or imprecise: grey pixels come out slightly coloured, and the hue/saturation noise of
    // near-black frames then looks like cuts.)
    d.sws_small = sws_getCachedContext(d.sws_small, f->width, f->height, static_cast<AVPixelFormat>(f->format),
                                       sz.width, rows, AV_PIX_FMT_YUV420P, SWS_AREA, nullptr, nullptr, nullptr);
    d.sws_rgb = sws_getCachedContext(d.sws_rgb, sz.width, rows, AV_PIX_FMT_YUV420P, sz.width, rows,
                                     AV_PIX_FMT_BGR24, SWS_POINT, nullptr, nullptr, nullptr);
    if (!d.sws_small || !d.sws_rgb) return fail();
    sws_scale(d.sws_small, f->data, f->linesize, 0, f->height, mid, mid_ls);
  }
  d.bgr.create(rows, sz.width, CV_8UC3);
  uint8_t* dst[4] = {d.bgr.data, nullptr, nullptr, nullptr};
  int dst_ls[4] = {static_cast<int>(d.bgr.step[0]), 0, 0, 0};
  sws_scale(d.sws_rgb, mid, mid_ls, 0, rows, dst, dst_ls);
  *out = d.bgr.rowRange(0, sz.height);
  if (luma) d.yuv[0].rowRange(0, sz.height).copyTo(*luma);
  return true;
}

cv::Mat Decoder::convert_full(const void* av_frame) {
  Impl& d = *impl_;
  const AVFrame* f = static_cast<const AVFrame*>(av_frame);
  // The flags cv::VideoCapture uses (so a saved frame is what OpenCV's read() gives), which take swscale's
  // unscaled SIMD path for 4:2:0: ~1 ms for a 1080p frame, where SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT took
  // ~14 ms for differences that the JPEG's own 4:2:0 chroma would not keep.
  d.sws_full = sws_getCachedContext(d.sws_full, f->width, f->height, static_cast<AVPixelFormat>(f->format), f->width,
                                    f->height, AV_PIX_FMT_BGR24, SWS_BICUBIC, nullptr, nullptr, nullptr);
  if (!d.sws_full) return {};
  cv::Mat bgr(f->height, f->width, CV_8UC3);
  uint8_t* dst[4] = {bgr.data, nullptr, nullptr, nullptr};
  int dst_ls[4] = {static_cast<int>(bgr.step[0]), 0, 0, 0};
  sws_scale(d.sws_full, f->data, f->linesize, 0, f->height, dst, dst_ls);
  // Anamorphic video: square the pixels, as a player shows them.
  const double sar = info_.sar;
  if (sar > 0 && std::abs(sar - 1.0) > 1e-3) {
    cv::Mat sq;
    int w = std::max(1, static_cast<int>(std::lround(bgr.cols * sar)));
    cv::resize(bgr, sq, cv::Size(w, bgr.rows), 0, 0, sar < 1 ? cv::INTER_AREA : cv::INTER_CUBIC);
    bgr = sq;
  }
  if (info_.rotation == 90) cv::rotate(bgr, bgr, cv::ROTATE_90_CLOCKWISE);
  else if (info_.rotation == 180) cv::rotate(bgr, bgr, cv::ROTATE_180);
  else if (info_.rotation == 270) cv::rotate(bgr, bgr, cv::ROTATE_90_COUNTERCLOCKWISE);
  return bgr;
}

Result<cv::Mat> Decoder::frame_at(int64_t pts, int64_t ordinal) {
  Impl& d = *impl_;
  const double tb = q2d(d.tb);
  FrameStamp st;
  auto decode_forward_to = [&](int64_t target) -> int {  // 1 found, 0 passed it, -1 end of stream
    for (;;) {
      if (!decode_next(st)) return -1;
      if (st.pts == target) return 1;
      if (st.pts > target) return 0;
    }
  };
  if (pts_reliable_) {
    // Close ahead of where the decoder is: decoding forward is cheaper than a seek.
    if (have_last_ && !d.drained && last_pts_ < pts && (pts - last_pts_) * tb < 2.0) {
      int r = decode_forward_to(pts);
      if (r == 1) {
        cv::Mat m = convert_full(d.frame);
        if (!m.empty()) return m;
      }
    }
    for (double back : {0.0, 1.0, 4.0, 16.0, 64.0}) {
      int64_t ts = pts - static_cast<int64_t>(back / (tb > 0 ? tb : 1e-3));
      if (av_seek_frame(d.fmt, d.stream, ts, AVSEEK_FLAG_BACKWARD) < 0) break;
      avcodec_flush_buffers(d.cc);
      d.flushing = d.drained = false;
      have_last_ = false;
      counting_ = false;
      if (!decode_next(st)) continue;
      if (st.pts > pts) continue;  // the seek landed after the frame: go further back
      int r = st.pts == pts ? 1 : decode_forward_to(pts);
      if (r == 1) {
        cv::Mat m = convert_full(d.frame);
        if (!m.empty()) return m;
      }
      if (r == 0) break;  // no frame with that PTS after a seek: count frames instead
    }
  }
  // Decode from the start and count frames (no index, no usable timestamps).
  FACECAT_TRY(reopen());
  while (ordinal_ < ordinal) {
    if (!decode_next(st)) return make_error("frame " + std::to_string(ordinal) + " could not be decoded again");
  }
  cv::Mat m = convert_full(d.frame);
  if (m.empty()) return make_error("cannot convert the frame's pixel format");
  return m;
}

}  // namespace facecat::video
