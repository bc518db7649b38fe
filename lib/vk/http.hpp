// HTTP over libcurl: an easy handle for API calls (one connection, kept alive) and a multi handle for photo
// downloads (bounded concurrency, timeouts, retries with jittered backoff). Nothing here knows about VK.
#pragma once
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace facecat::vk {

// A URL or form body with every access_token / token value replaced by "***" (for logs and messages).
std::string redact(std::string_view text);
// application/x-www-form-urlencoded escaping (RFC 3986 unreserved characters kept).
std::string url_encode(std::string_view s);

// Exponential backoff with full jitter in [base*2^attempt/2, base*2^attempt], capped.
std::chrono::milliseconds backoff_delay(int attempt, int base_ms, int cap_ms, std::mt19937_64& rng);

struct HttpResponse {
  long status = 0;          // HTTP status; 0 when the transfer failed
  std::string body;
  std::string error;        // curl's message when the transfer failed (timeout, refused, ...)
  std::string content_type;
};

struct HttpOptions {
  int timeout_s = 30;
  int connect_timeout_s = 10;
  uint64_t max_bytes = 64ull << 20;
  std::string user_agent = "facecat-vk/" FACECAT_VERSION;
};

class HttpClient {
 public:
  explicit HttpClient(HttpOptions o = {});
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;
  HttpResponse post_form(const std::string& url, const std::string& body);
  HttpResponse get(const std::string& url);

 private:
  HttpResponse perform();
  HttpOptions opts_;
  void* easy_ = nullptr;
};

struct DownloadJob {
  std::string url;
  uint64_t tag = 0;  // the caller's id for the job
};
struct DownloadResult {
  uint64_t tag = 0;
  std::string url;
  HttpResponse response;
  int attempts = 0;
};

struct DownloaderOptions {
  int concurrency = 8;
  int retries = 3;         // extra attempts after a timeout, a refused connection, 429 or 5xx
  int retry_base_ms = 500;
  HttpOptions http;
};

// Many downloads at once through one curl multi handle (its connection cache keeps connections alive).
// Single-threaded: pump() runs transfers and hands finished ones to the callback on the calling thread.
class Downloader {
 public:
  using Done = std::function<void(DownloadResult&&)>;
  explicit Downloader(DownloaderOptions o = {});
  ~Downloader();
  Downloader(const Downloader&) = delete;
  Downloader& operator=(const Downloader&) = delete;

  void add(DownloadJob job);
  // Runs transfers for up to max_wait (returns early once nothing is pending).
  void pump(std::chrono::milliseconds max_wait, const Done& done);
  // Runs until every job has finished; stop() is polled between rounds.
  void drain(const Done& done, const std::function<bool()>& stop = {});
  size_t pending() const { return queue_.size() + waiting_.size() + active_; }
  uint64_t retried() const { return retried_; }

 private:
  struct Transfer;
  struct Waiting {
    std::chrono::steady_clock::time_point at;
    DownloadJob job;
    int attempts;
  };
  void start_ready();
  void finish(void* easy, int curl_code, const Done& done);
  DownloaderOptions opts_;
  void* multi_ = nullptr;
  std::deque<std::pair<DownloadJob, int>> queue_;  // job, attempts so far
  std::vector<Waiting> waiting_;                   // retries not before `at`
  std::vector<void*> idle_easy_;
  std::vector<void*> active_easy_;
  size_t active_ = 0;
  uint64_t retried_ = 0;
  std::mt19937_64 rng_;
};

}  // namespace facecat::vk
