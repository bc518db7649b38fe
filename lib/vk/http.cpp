#include "vk/http.hpp"

#include <curl/curl.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <stdexcept>

namespace facecat::vk {
namespace {

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) throw std::runtime_error("curl_global_init failed");
  });
}

struct Sink {
  std::string* body;
  uint64_t max_bytes;
};

size_t write_cb(char* ptr, size_t size, size_t nmemb, void* user) {
  auto* s = static_cast<Sink*>(user);
  size_t n = size * nmemb;
  if (s->body->size() + n > s->max_bytes) return 0;  // aborts the transfer (CURLE_WRITE_ERROR)
  s->body->append(ptr, n);
  return n;
}

void common_setopts(CURL* e, const HttpOptions& o) {
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_TIMEOUT, static_cast<long>(o.timeout_s));
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, static_cast<long>(o.connect_timeout_s));
  curl_easy_setopt(e, CURLOPT_USERAGENT, o.user_agent.c_str());
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(e, CURLOPT_MAXREDIRS, 5L);
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");  // gzip/deflate when the server offers it
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
}

std::string content_type_of(CURL* e) {
  char* ct = nullptr;
  curl_easy_getinfo(e, CURLINFO_CONTENT_TYPE, &ct);
  return ct ? std::string(ct) : std::string();
}

}  // namespace

std::string redact(std::string_view text) {
  std::string s(text);
  for (const char* key : {"access_token=", "token="}) {
    size_t pos = 0;
    while ((pos = s.find(key, pos)) != std::string::npos) {
      // Only at a parameter boundary (start, ?, &, or a space).
      if (pos > 0 && s[pos - 1] != '?' && s[pos - 1] != '&' && s[pos - 1] != ' ') {
        pos += 1;
        continue;
      }
      size_t v = pos + std::char_traits<char>::length(key);
      size_t end = s.find_first_of("& \r\n\"", v);
      if (end == std::string::npos) end = s.size();
      s.replace(v, end - v, "***");
      pos = v + 3;
    }
  }
  // Authorization: Bearer <token>
  const std::string bearer = "Bearer ";
  for (size_t pos = 0; (pos = s.find(bearer, pos)) != std::string::npos;) {
    size_t v = pos + bearer.size();
    size_t end = s.find_first_of(" \r\n\"", v);
    if (end == std::string::npos) end = s.size();
    s.replace(v, end - v, "***");
    pos = v + 3;
  }
  return s;
}

std::string url_encode(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() * 3);
  for (unsigned char c : s) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
        c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::chrono::milliseconds backoff_delay(int attempt, int base_ms, int cap_ms, std::mt19937_64& rng) {
  double full = std::min<double>(cap_ms, static_cast<double>(base_ms) * static_cast<double>(1ull << std::min(attempt, 20)));
  std::uniform_real_distribution<double> d(full / 2, full);
  return std::chrono::milliseconds(static_cast<int64_t>(d(rng)));
}

// ---- HttpClient ---------------------------------------------------------------------------------------------
HttpClient::HttpClient(HttpOptions o) : opts_(std::move(o)) {
  global_init();
  easy_ = curl_easy_init();
  if (!easy_) throw std::runtime_error("curl_easy_init failed");
}
HttpClient::~HttpClient() {
  if (easy_) curl_easy_cleanup(static_cast<CURL*>(easy_));
}

HttpResponse HttpClient::perform() {
  auto* e = static_cast<CURL*>(easy_);
  HttpResponse r;
  Sink sink{&r.body, opts_.max_bytes};
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &sink);
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
  CURLcode rc = curl_easy_perform(e);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, nullptr);
  if (rc != CURLE_OK) {
    r.error = errbuf[0] ? errbuf : curl_easy_strerror(rc);
    r.status = 0;
    return r;
  }
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r.status);
  r.content_type = content_type_of(e);
  return r;
}

HttpResponse HttpClient::post_form(const std::string& url, const std::string& body) {
  auto* e = static_cast<CURL*>(easy_);
  curl_easy_reset(e);  // keeps the connection cache: the next request reuses the connection
  common_setopts(e, opts_);
  curl_easy_setopt(e, CURLOPT_URL, url.c_str());
  curl_easy_setopt(e, CURLOPT_POST, 1L);
  curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, body.c_str());
  return perform();
}

HttpResponse HttpClient::get(const std::string& url) {
  auto* e = static_cast<CURL*>(easy_);
  curl_easy_reset(e);
  common_setopts(e, opts_);
  curl_easy_setopt(e, CURLOPT_URL, url.c_str());
  curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
  return perform();
}

// ---- Downloader ---------------------------------------------------------------------------------------------
struct Downloader::Transfer {
  DownloadJob job;
  int attempts = 0;
  HttpResponse response;
  Sink sink{nullptr, 0};
  char errbuf[CURL_ERROR_SIZE] = {0};
};

Downloader::Downloader(DownloaderOptions o) : opts_(std::move(o)), rng_(std::random_device{}()) {
  global_init();
  multi_ = curl_multi_init();
  if (!multi_) throw std::runtime_error("curl_multi_init failed");
  auto* m = static_cast<CURLM*>(multi_);
  curl_multi_setopt(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, static_cast<long>(opts_.concurrency));
  curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, static_cast<long>(opts_.concurrency));
  curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, static_cast<long>(opts_.concurrency * 2));
}

Downloader::~Downloader() {
  auto* m = static_cast<CURLM*>(multi_);
  // Abandon transfers still running (an early stop): their easy handles carry a Transfer each.
  int n = 0;
  while (CURLMsg* msg = curl_multi_info_read(m, &n)) (void)msg;
  for (void* h : active_easy_) {
    auto* e = static_cast<CURL*>(h);
    Transfer* t = nullptr;
    curl_easy_getinfo(e, CURLINFO_PRIVATE, &t);
    curl_multi_remove_handle(m, e);
    delete t;
    curl_easy_cleanup(e);
  }
  for (void* e : idle_easy_) curl_easy_cleanup(static_cast<CURL*>(e));
  curl_multi_cleanup(m);
}

void Downloader::add(DownloadJob job) { queue_.emplace_back(std::move(job), 0); }

void Downloader::start_ready() {
  auto now = std::chrono::steady_clock::now();
  for (auto it = waiting_.begin(); it != waiting_.end();) {
    if (it->at <= now) {
      queue_.emplace_front(std::move(it->job), it->attempts);
      it = waiting_.erase(it);
    } else {
      ++it;
    }
  }
  auto* m = static_cast<CURLM*>(multi_);
  while (active_ < static_cast<size_t>(opts_.concurrency) && !queue_.empty()) {
    auto [job, attempts] = std::move(queue_.front());
    queue_.pop_front();
    CURL* e;
    if (!idle_easy_.empty()) {
      e = static_cast<CURL*>(idle_easy_.back());
      idle_easy_.pop_back();
      curl_easy_reset(e);
    } else {
      e = curl_easy_init();
      if (!e) throw std::runtime_error("curl_easy_init failed");
    }
    auto* t = new Transfer;
    t->job = std::move(job);
    t->attempts = attempts + 1;
    t->sink = Sink{&t->response.body, opts_.http.max_bytes};
    common_setopts(e, opts_.http);
    curl_easy_setopt(e, CURLOPT_URL, t->job.url.c_str());
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &t->sink);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
    curl_easy_setopt(e, CURLOPT_PRIVATE, t);
    curl_multi_add_handle(m, e);
    active_easy_.push_back(e);
    ++active_;
  }
}

void Downloader::finish(void* easy, int curl_code, const Done& done) {
  auto* e = static_cast<CURL*>(easy);
  auto* m = static_cast<CURLM*>(multi_);
  Transfer* t = nullptr;
  curl_easy_getinfo(e, CURLINFO_PRIVATE, &t);
  std::unique_ptr<Transfer> owned(t);
  curl_multi_remove_handle(m, e);
  active_easy_.erase(std::find(active_easy_.begin(), active_easy_.end(), easy));
  --active_;
  auto rc = static_cast<CURLcode>(curl_code);
  if (rc == CURLE_OK) {
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &t->response.status);
    t->response.content_type = content_type_of(e);
  } else {
    t->response.status = 0;
    t->response.error = t->errbuf[0] ? t->errbuf : curl_easy_strerror(rc);
  }
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, nullptr);
  idle_easy_.push_back(e);
  long st = t->response.status;
  bool transient = (rc != CURLE_OK && rc != CURLE_WRITE_ERROR && rc != CURLE_FILESIZE_EXCEEDED &&
                    rc != CURLE_UNSUPPORTED_PROTOCOL && rc != CURLE_URL_MALFORMAT) ||
                   st == 429 || st >= 500;
  if (transient && t->attempts <= opts_.retries) {
    ++retried_;
    auto delay = backoff_delay(t->attempts - 1, opts_.retry_base_ms, 30000, rng_);
    spdlog::debug("download {}: {} (attempt {}); retrying in {} ms", redact(t->job.url),
                  st ? "HTTP " + std::to_string(st) : t->response.error, t->attempts, delay.count());
    waiting_.push_back(Waiting{std::chrono::steady_clock::now() + delay, std::move(t->job), t->attempts});
    return;
  }
  DownloadResult r;
  r.tag = t->job.tag;
  r.url = std::move(t->job.url);
  r.response = std::move(t->response);
  r.attempts = t->attempts;
  done(std::move(r));
}

void Downloader::pump(std::chrono::milliseconds max_wait, const Done& done) {
  auto* m = static_cast<CURLM*>(multi_);
  auto deadline = std::chrono::steady_clock::now() + max_wait;
  for (;;) {
    start_ready();
    if (pending() == 0) return;
    int running = 0;
    curl_multi_perform(m, &running);
    int n = 0;
    bool finished_any = false;
    while (CURLMsg* msg = curl_multi_info_read(m, &n)) {
      if (msg->msg == CURLMSG_DONE) {
        finish(msg->easy_handle, msg->data.result, done);
        finished_any = true;
      }
    }
    if (finished_any) continue;  // start the next transfers at once
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
    int wait_ms = static_cast<int>(std::min<int64_t>(left.count(), 100));
    if (active_ == 0 && !waiting_.empty()) {
      // Only retries waiting: sleep until the first is due (or the deadline).
      auto first = std::min_element(waiting_.begin(), waiting_.end(),
                                    [](const Waiting& a, const Waiting& b) { return a.at < b.at; })->at;
      auto until = std::min(first, deadline);
      auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(until - now).count();
      wait_ms = static_cast<int>(std::clamp<int64_t>(ms, 1, 100));
    }
    int numfds = 0;
    curl_multi_poll(m, nullptr, 0, std::max(1, wait_ms), &numfds);
  }
}

void Downloader::drain(const Done& done, const std::function<bool()>& stop) {
  while (pending() > 0) {
    if (stop && stop()) return;
    pump(std::chrono::milliseconds(200), done);
  }
}

}  // namespace facecat::vk
