// Decode-only baseline for scripts/bench-detect-folder: reads every file given and decodes it with
// cv::imread(IMREAD_REDUCED_COLOR_4) on N threads (TBB), then prints {"images":…, "seconds":…, "per_s":…}.
//   bench-decode-folder THREADS FILE...
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <opencv2/imgcodecs.hpp>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: bench-decode-folder THREADS FILE...\n");
    return 2;
  }
  const int threads = std::atoi(argv[1]);
  std::vector<std::string> files(argv + 2, argv + argc);
  std::atomic<long> pixels{0}, failed{0};
  auto t0 = std::chrono::steady_clock::now();
  tbb::task_arena arena(threads > 0 ? threads : tbb::this_task_arena::max_concurrency());
  arena.execute([&] {
    tbb::parallel_for(size_t(0), files.size(), [&](size_t i) {
      cv::Mat m = cv::imread(files[i], cv::IMREAD_REDUCED_COLOR_4);
      if (m.empty()) ++failed;
      pixels += long(m.total());
    });
  });
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("{\"images\": %zu, \"failed\": %ld, \"seconds\": %.3f, \"per_s\": %.3f}\n", files.size(), failed.load(), s,
              double(files.size()) / s);
  return failed ? 1 : 0;
}
