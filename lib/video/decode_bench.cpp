#include "video/decode_bench.hpp"

#include <chrono>

#include <opencv2/videoio.hpp>

#include "core/signals.hpp"
#include "video/decoder.hpp"

namespace facecat::video {

Result<DecodeRun> decode_only(const std::filesystem::path& path, const std::string& mode, int threads) {
  DecodeRun r;
  const auto t0 = std::chrono::steady_clock::now();
  if (mode == "opencv-grab" || mode == "opencv-read") {
    cv::VideoCapture cap;
    cap.open(path.string(), cv::CAP_FFMPEG);
    if (!cap.isOpened()) return make_error("OpenCV cannot open the video");
    cv::Mat m;
    const bool read = mode == "opencv-read";
    while (read ? cap.read(m) : cap.grab()) {
      if ((++r.frames & 255) == 0) throw_if_interrupted();
    }
  } else if (mode == "ffmpeg") {
    auto dec = Decoder::open(path, threads);
    if (!dec) return dec.error();
    FrameStamp st;
    while ((*dec)->next(st, nullptr)) {
      if ((++r.frames & 255) == 0) throw_if_interrupted();
    }
  } else {
    return make_error("unknown --decode-only mode '" + mode + "' (opencv-grab, opencv-read or ffmpeg)", 2);
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace facecat::video
