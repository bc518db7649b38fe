// facecat-vk fetch's engine: resolve a user, crawl friends (and friends of friends) politely, list profile photos,
// download them, and write people, friendships and files to the catalog. Resumable: the crawl state lives in the
// catalog (vk_crawl, vk_photos), every batch is committed in its own short transaction, and a re-run skips what
// was fetched within max_age and never downloads a photo twice.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "catalog/catalog.hpp"
#include "vk/api.hpp"
#include "vk/http.hpp"

namespace facecat::vk {

struct FetchOptions {
  std::string user;                 // numeric id or screen name
  int depth = 1;                    // 1: friends; 2: friends of friends too
  int photos = 3;                   // newest N profile photos per person (0: none)
  std::string size = "z";           // x, y, z, w or max
  std::filesystem::path out;        // where photos are written
  int64_t max_age_s = 7 * 86400;    // skip people fetched more recently than this
  bool use_execute = true;          // batch 25 calls per execute when the token allows it
};

struct FetchStats {
  uint64_t people_new = 0, people_seen = 0, edges_new = 0;
  uint64_t friend_lists = 0, friend_lists_fresh = 0, friend_lists_private = 0, friend_lists_failed = 0;
  uint64_t photo_lists = 0, photo_lists_fresh = 0, photo_lists_failed = 0, photos_listed = 0;
  uint64_t downloaded = 0, already_present = 0, missing = 0, rejected = 0, placeholders = 0, download_failed = 0;
  uint64_t requests = 0, retries = 0;
  bool execute_used = false;
  std::vector<std::string> stopped;  // messages for methods stopped by flood control or a daily quota
  nlohmann::json to_json() const;
};

using Emit = std::function<void(const nlohmann::json&)>;

// Throws Fatal(exit_code::remote) when VK refuses the token or asks for a captcha (after committing what was
// done), Fatal(exit_code::usage) when the user does not exist, Interrupted on SIGINT/SIGTERM.
FetchStats fetch(catalog::Catalog& cat, Api& api, const DownloaderOptions& dl_opts, const FetchOptions& opts,
                 const Emit& emit);

// ---- helpers, exposed for unit tests ----
struct UserInfo {
  std::string id;
  std::string name;
  std::string status;  // open, closed, deleted, banned
  bool can_access = true;
  int has_photo = -1;  // -1 unknown
};
std::optional<UserInfo> parse_user(const nlohmann::json& j);

struct SizeChoice {
  std::string type, url;
  int64_t width = 0, height = 0;
};
// The wanted size type, else the largest available (3:2 crops o/p/q/r only when nothing else exists).
std::optional<SizeChoice> choose_size(const nlohmann::json& photo, const std::string& want);
// VK's placeholder avatars (camera_200.png?ava=1, deactivated_200.png, ...) are not photos of anyone.
bool is_placeholder_url(const std::string& url);
// "<owner>_<photo>" with anything but digits and '-' replaced, so a name never escapes the folder.
std::string photo_basename(const std::string& owner, const std::string& photo);
// Parses "90", "90s", "15m", "12h", "7d" into seconds.
std::optional<int64_t> parse_duration(const std::string& s);

}  // namespace facecat::vk
