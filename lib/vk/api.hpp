// The VK API: one call at a time through a kept-alive connection, paced by a token bucket, with VK's error table
// applied (../shared/docs/vk-api.md):
//   6, 10, HTTP 5xx, timeouts   retried here with jittered backoff (bounded)
//   9, 29                       the method is stopped for this run (StopMethod); the caller checkpoints
//   5, 14, 17, 27, 28           the run must stop (Fatal) with a message that names the token / what to do
//   15, 18, 30, 113, 200        about one person (Person): record the status and go on
// The token travels in the POST body only, never in a URL, a log line or an error message.
#pragma once
#include <chrono>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <string>

#include "vk/http.hpp"
#include "vk/rate.hpp"

namespace facecat::vk {

using json = nlohmann::json;

enum class ErrorClass { None, Retry, StopMethod, Fatal, Person, Other };
ErrorClass classify(int vk_error_code);

struct ApiError {
  int code = 0;            // VK error_code; 0 for transport errors
  long http_status = 0;    // non-200 HTTP status, or 0
  std::string message;     // VK's error_msg or curl's text
  std::string method;
  ErrorClass cls = ErrorClass::None;
  json raw;                // the error object as VK sent it (for captcha_sid, redirect_uri, ...)
  std::string describe() const;
};

struct ApiResult {
  bool ok() const { return error.cls == ErrorClass::None; }
  json response;           // "response" of the answer
  json execute_errors;     // execute only: [{method, error_code, error_msg}]
  ApiError error;
};

struct ApiOptions {
  std::string base_url = "https://api.vk.com/method";
  std::string version = "5.199";
  std::string token;                 // never logged
  std::string token_label = "the VK token";  // where the token came from, for messages ("VKAPPS_TOKEN", ...)
  double rps = 3.0;
  int retries = 5;                   // extra attempts for 6, 10, 5xx and timeouts
  int retry_base_ms = 500;
  HttpOptions http;
};

class Api {
 public:
  using Idle = std::function<void(std::chrono::milliseconds)>;
  explicit Api(ApiOptions o);
  // params: name -> value (already strings). Blocks for the rate limit; `idle` is called while waiting.
  ApiResult call(const std::string& method, const std::map<std::string, std::string>& params);
  void set_idle(Idle idle) { idle_ = std::move(idle); }
  uint64_t requests() const { return requests_; }
  uint64_t retries() const { return retried_; }
  const ApiOptions& options() const { return opts_; }
  // A message for a Fatal error: what happened and what the user should do.
  std::string fatal_message(const ApiError& e) const;

 private:
  ApiOptions opts_;
  HttpClient http_;
  RateLimiter limiter_;
  Idle idle_;
  std::mt19937_64 rng_;
  uint64_t requests_ = 0, retried_ = 0;
};

// VKScript for execute: `return {"k1": API.m({...}), ...};` with JSON-encoded parameters (at most 25 calls).
struct ExecuteCall {
  std::string key;  // [A-Za-z0-9_]+
  std::string method;
  json params;      // an object of strings and numbers
};
std::string execute_code(const std::vector<ExecuteCall>& calls);

}  // namespace facecat::vk
