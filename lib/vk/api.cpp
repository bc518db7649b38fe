#include "vk/api.hpp"

#include <spdlog/spdlog.h>

#include <thread>

#include "core/signals.hpp"

namespace facecat::vk {

ErrorClass classify(int code) {
  switch (code) {
    case 0:
      return ErrorClass::None;
    case 6:
    case 10:
      return ErrorClass::Retry;
    case 9:
    case 29:
      return ErrorClass::StopMethod;
    case 5:
    case 14:
    case 17:
    case 27:
    case 28:
      return ErrorClass::Fatal;
    case 15:
    case 18:
    case 30:
    case 113:
    case 200:
      return ErrorClass::Person;
    default:
      return ErrorClass::Other;
  }
}

std::string ApiError::describe() const {
  std::string s = method + ": ";
  if (code) s += "VK error " + std::to_string(code) + " (" + message + ")";
  else if (http_status) s += "HTTP " + std::to_string(http_status);
  else s += message;
  return redact(s);
}

std::string Api::fatal_message(const ApiError& e) const {
  const std::string& tok = opts_.token_label;
  switch (e.code) {
    case 5:
      return "VK refused " + tok + " (error 5, " + e.message +
             "): the token is invalid or has expired (user tokens last about an hour); get a new token and set it "
             "in VKAPPS_TOKEN or [vk] token, or use the app's service token";
    case 14:
      return "VK asks for a captcha on " + e.method +
             " (error 14); a batch tool cannot solve it: wait a few hours and run the same command again — it "
             "resumes where it stopped";
    case 17: {
      std::string uri = e.raw.is_object() && e.raw.contains("redirect_uri") && e.raw["redirect_uri"].is_string()
                            ? std::string(e.raw["redirect_uri"])
                            : std::string("the validation page");
      return "VK requires validation of the account behind " + tok + " (error 17): open " + redact(uri) +
             " in a browser as that user, then run the same command again";
    }
    case 27:
      return e.method + " does not accept a community token (error 27): " + tok +
             " must be a user or service token";
    case 28:
      return "application authorization failed for " + e.method + " (error 28, " + e.message + "): " + tok +
             " is of a kind this method does not accept, or the app is blocked; use a user or service token of an "
             "active app";
    default:
      return e.describe();
  }
}

Api::Api(ApiOptions o)
    : opts_(std::move(o)), http_(opts_.http), limiter_(opts_.rps), rng_(std::random_device{}()) {
  while (!opts_.base_url.empty() && opts_.base_url.back() == '/') opts_.base_url.pop_back();
}

ApiResult Api::call(const std::string& method, const std::map<std::string, std::string>& params) {
  std::string body;
  for (const auto& [k, v] : params) {
    if (!body.empty()) body += '&';
    body += url_encode(k) + "=" + url_encode(v);
  }
  body += std::string(body.empty() ? "" : "&") + "v=" + url_encode(opts_.version);
  const std::string public_body = body;  // what may appear in a debug log
  body += "&access_token=" + url_encode(opts_.token);
  const std::string url = opts_.base_url + "/" + method;

  ApiResult res;
  for (int attempt = 0;; ++attempt) {
    throw_if_interrupted();
    limiter_.acquire(idle_);
    ++requests_;
    spdlog::trace("POST {} {}", url, public_body.size() > 300 ? public_body.substr(0, 300) + "…" : public_body);
    auto r = http_.post_form(url, body);
    res = ApiResult{};
    ApiError& err = res.error;
    err.method = method;
    if (r.status != 200) {
      err.http_status = r.status;
      err.message = r.status ? "HTTP " + std::to_string(r.status) : r.error;
      err.cls = (r.status == 0 || r.status >= 500 || r.status == 429) ? ErrorClass::Retry : ErrorClass::Other;
    } else {
      json j = json::parse(r.body, nullptr, false);
      if (j.is_discarded() || !j.is_object()) {
        err.message = "the answer is not JSON";
        err.cls = ErrorClass::Retry;
      } else if (j.contains("error")) {
        const json& e = j["error"];
        err.code = e.is_object() && e.contains("error_code") && e["error_code"].is_number_integer()
                       ? e["error_code"].get<int>()
                       : -1;
        err.message = e.is_object() && e.contains("error_msg") && e["error_msg"].is_string()
                          ? e["error_msg"].get<std::string>()
                          : std::string("unknown error");
        err.raw = e;
        err.cls = classify(err.code);
      } else if (!j.contains("response")) {
        err.message = "the answer has neither response nor error";
        err.cls = ErrorClass::Other;
      } else {
        res.response = std::move(j["response"]);
        if (j.contains("execute_errors")) res.execute_errors = std::move(j["execute_errors"]);
        return res;
      }
    }
    if (err.cls != ErrorClass::Retry || attempt >= opts_.retries) {
      if (err.cls == ErrorClass::Retry) spdlog::warn("{}: giving up after {} attempts", err.describe(), attempt + 1);
      return res;
    }
    ++retried_;
    // Error 6 means we were too fast for VK's count: back off longer than for a server error.
    int base = err.code == 6 ? opts_.retry_base_ms * 2 : opts_.retry_base_ms;
    auto delay = backoff_delay(attempt, base, 60000, rng_);
    spdlog::info("{}; retry {} in {} ms", err.describe(), attempt + 1, delay.count());
    auto until = std::chrono::steady_clock::now() + delay;
    while (std::chrono::steady_clock::now() < until) {
      throw_if_interrupted();
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      if (idle_) idle_(left);
      else std::this_thread::sleep_for(std::min(left, std::chrono::milliseconds(100)));
    }
  }
}

std::string execute_code(const std::vector<ExecuteCall>& calls) {
  std::string code = "return {";
  bool first = true;
  for (const auto& c : calls) {
    if (!first) code += ",";
    first = false;
    code += json(c.key).dump() + ":API." + c.method + "(" + c.params.dump() + ")";
  }
  code += "};";
  return code;
}

}  // namespace facecat::vk
