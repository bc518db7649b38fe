#include "tools/vk_tool.hpp"

#include <spdlog/spdlog.h>

#include <chrono>

#include "core/exit_codes.hpp"
#include "core/output.hpp"
#include "core/owned_dir.hpp"
#include "core/tool.hpp"
#include "tools/common.hpp"
#include "util/atomic_file.hpp"
#include "util/text.hpp"
#include "vk/api.hpp"
#include "vk/crawl.hpp"
#include "vk/notify.hpp"
#include "vk/social.hpp"

namespace facecat::tools {
namespace {

// "the token in VKAPPS_TOKEN" / "the token in /path/config.ini:12 ([vk] token)": says which token to fix.
std::string token_label(const Config& cfg, const std::string& key, const char* env) {
  const auto& origin = cfg.origin(key);
  if (util::starts_with(origin, "environment")) return std::string("the token in ") + env;
  if (origin == "default") return "no token";
  return "the token in " + origin + " ([vk] " + key.substr(3) + ")";
}

vk::ApiOptions api_options(const Config& cfg, bool community) {
  vk::ApiOptions o;
  const char* key = community ? "vk.community_token" : "vk.token";
  const char* env = community ? "VK_COMMUNITY_TOKEN" : "VKAPPS_TOKEN";
  o.token = cfg.get(key);
  if (o.token.empty())
    throw Fatal(std::string("no VK ") + (community ? "community " : "") + "token: set " + env + " or [vk] " +
                    (community ? "community_token" : "token") +
                    " in config.ini (chmod 600); tokens are never taken from the command line",
                exit_code::usage);
  o.token_label = token_label(cfg, key, env);
  o.base_url = cfg.get("vk.api_base");
  o.version = cfg.get("vk.api_version");
  o.rps = community ? cfg.get_double("vk.community_rps") : cfg.get_double("vk.rps");
  if (o.rps <= 0) throw Fatal("vk.rps must be positive", exit_code::usage);
  o.retry_base_ms = static_cast<int>(cfg.get_int("vk.retry_base_ms"));
  o.http.timeout_s = static_cast<int>(cfg.get_int("vk.timeout_s"));
  return o;
}

// A numeric VK id as is; a screen name through users.get (needs a token).
std::string resolve_id(const Config& cfg, const std::string& user) {
  if (!user.empty() && user.find_first_not_of("0123456789") == std::string::npos) return user;
  vk::Api api(api_options(cfg, false));
  auto r = api.call("users.get", {{"user_ids", user}});
  if (!r.ok()) {
    if (r.error.cls == vk::ErrorClass::Fatal) throw Fatal(api.fatal_message(r.error), exit_code::remote);
    throw Fatal("cannot resolve VK user '" + user + "': " + r.error.describe(), exit_code::usage);
  }
  if (!r.response.is_array() || r.response.empty() || !r.response[0].contains("id"))
    throw Fatal("VK user '" + user + "' does not exist", exit_code::usage);
  return std::to_string(r.response[0]["id"].get<int64_t>());
}

int fetch_cmd(const Config& cfg, vk::FetchOptions opts, const std::string& max_age, bool no_execute) {
  auto age = vk::parse_duration(max_age);
  if (!age) throw Fatal("--max-age '" + max_age + "' is not a duration (e.g. 90m, 12h, 7d)", exit_code::usage);
  opts.max_age_s = *age;
  opts.use_execute = !no_execute;
  if (opts.out.empty()) opts.out = cfg.get_path("vk.photos_dir");
  // Photos go only into a folder that is facecat's (a marker; ARCHITECTURE.md, "What facecat deletes").
  value_or_throw(claim_output_dir(opts.out, OwnedDirKind::VkPhotos, "--out (vk.photos_dir)"));
  vk::Api api(api_options(cfg, false));
  vk::DownloaderOptions dl;
  dl.concurrency = std::max<int>(1, static_cast<int>(cfg.get_int("vk.download_concurrency")));
  dl.retry_base_ms = static_cast<int>(cfg.get_int("vk.retry_base_ms"));
  dl.http.timeout_s = static_cast<int>(cfg.get_int("vk.timeout_s"));
  auto cat = open_catalog(cfg, catalog::Mode::Write);
  auto t0 = std::chrono::steady_clock::now();
  auto st = vk::fetch(cat, api, dl, opts, [](const json& e) { emit(e); });
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  json summary = st.to_json();
  summary["event"] = "summary";
  summary["seconds"] = secs;
  emit(summary);
  spdlog::info("{} people ({} new), {} new friendships, {} friend lists, {} photos downloaded ({} already there), "
               "{} API requests in {:.1f} s",
               st.people_seen, st.people_new, st.edges_new, st.friend_lists, st.downloaded, st.already_present,
               st.requests, secs);
  if (!st.stopped.empty()) {
    for (const auto& m : st.stopped) spdlog::error("{}", m);
    return exit_code::remote;
  }
  bool failed = st.missing || st.rejected || st.download_failed || st.friend_lists_failed || st.photo_lists_failed;
  return failed ? exit_code::some_failed : exit_code::ok;
}

int suggest_cmd(const Config& cfg, const std::string& user, size_t limit) {
  std::string id = resolve_id(cfg, user);
  auto cat = open_catalog(cfg, catalog::Mode::Read);
  auto v = value_or_throw(vk::suggest(cat.db(), id, limit));
  int rank = 0;
  for (const auto& c : v) {
    emit(json{{"event", "suggestion"}, {"rank", ++rank}, {"vk_id", c.vk_id}, {"person_id", c.person_id},
              {"name", c.name}, {"status", c.status}, {"mutual_friend_count", c.mutual_friends},
              {"co_appearance_count", c.co_appearances}});
  }
  if (v.empty()) spdlog::info("no friends of friends of {} in the catalog (fetch with --depth 2 first)", id);
  return exit_code::ok;
}

int notify_cmd(const Config& cfg, const std::string& user, const std::string& text_opt, const std::string& match_file,
               bool dry_run) {
  if (user.empty() || user.find_first_not_of("0123456789") != std::string::npos)
    throw Fatal("--user must be a numeric VK id for notify, got '" + user + "'", exit_code::usage);
  std::string text = text_opt;
  if (!match_file.empty()) {
    std::string data;
    if (match_file == "-") {
      data.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    } else {
      auto r = util::read_file(match_file, 64u << 20);
      if (!r) throw Fatal("cannot read " + match_file + ": " + r.error().message, exit_code::usage);
      data = std::move(*r);
    }
    text = value_or_throw(vk::message_from_match(data, match_file));
  }
  if (util::trim(text).empty()) throw Fatal("the message is empty", exit_code::usage);
  if (vk::utf8_length(text) > vk::kMaxMessageChars)
    throw Fatal("the message has " + std::to_string(vk::utf8_length(text)) + " characters; VK allows " +
                    std::to_string(vk::kMaxMessageChars),
                exit_code::usage);
  int64_t rid = vk::message_random_id(user, text);
  if (dry_run) {
    emit(json{{"event", "notify"}, {"dry_run", true}, {"user_id", user}, {"random_id", rid}, {"message", text}});
    return exit_code::ok;
  }
  vk::Api api(api_options(cfg, true));
  auto r = api.call("messages.send",
                    {{"user_id", user}, {"random_id", std::to_string(rid)}, {"message", text}});
  if (!r.ok()) {
    const auto& e = r.error;
    if (e.cls == vk::ErrorClass::Fatal) throw Fatal(api.fatal_message(e), exit_code::remote);
    if (e.code == 901)
      throw Fatal("user " + user + " has not allowed messages from the community (error 901): they must write to "
                  "the community or allow its messages first", exit_code::remote);
    if (e.code == 900 || e.code == 902)
      throw Fatal("VK refuses to deliver to user " + user + ": " + e.describe(), exit_code::remote);
    throw Fatal("messages.send failed: " + e.describe() + "; running the same command again is safe (random_id " +
                    std::to_string(rid) + " makes VK drop a duplicate)",
                exit_code::remote);
  }
  emit(json{{"event", "sent"}, {"user_id", user}, {"random_id", rid},
            {"message_id", r.response.is_number_integer() ? r.response : json(nullptr)}});
  return exit_code::ok;
}

}  // namespace

int vk_main(int argc, char** argv) {
  CLI::App app{"facecat-vk: VK friends and their profile photos into the catalog, people you may know, and "
               "notifications.\nThe token comes from VKAPPS_TOKEN (VK_COMMUNITY_TOKEN for notify) or config.ini "
               "[vk]; never from the command line. Prints JSON Lines on stdout."};
  app.set_version_flag("--version", FACECAT_VERSION);
  app.require_subcommand(1);
  CommonOptions common;
  add_common_options(app, common);

  vk::FetchOptions fo;
  std::string out, max_age;
  bool no_execute = false;
  auto* fetch = app.add_subcommand("fetch", "crawl a user's friends (--depth 2: and their friends), download their "
                                            "newest profile photos and register everything in the catalog");
  fetch->add_option("--user", fo.user, "VK id or screen name")->required();
  fetch->add_option("--depth", fo.depth, "1: friends; 2: friends of friends too")->check(CLI::Range(1, 2));
  fetch->add_option("--photos", fo.photos, "newest profile photos per person (0: none; default 3)")
      ->check(CLI::Range(0, 1000));
  fetch->add_option("--size", fo.size, "photo size: x (604 px), y (807), z (1080), w (2560) or max; the largest "
                                       "available when missing (default z)")
      ->check(CLI::IsMember({"x", "y", "z", "w", "max"}));
  fetch->add_option("--out", out, "folder for the photos " + env_help("vk.photos_dir"));
  fetch->add_option("--max-age", max_age, "skip people fetched more recently than this " + env_help("vk.max_age"));
  fetch->add_flag("--no-execute", no_execute, "one friends.get/photos.get per person instead of execute batches");

  std::string s_user;
  size_t limit = 20;
  auto* sug = app.add_subcommand("suggest", "people you may know: friends of friends ranked by mutual friends, then "
                                            "by photos together (from the catalog)");
  sug->add_option("--user", s_user, "VK id (or screen name, resolved with the token)")->required();
  sug->add_option("--limit", limit, "at most this many (0: all; default 20)");

  std::string n_user, text, match_file;
  bool dry_run = false;
  auto* notify = app.add_subcommand("notify", "send a message with messages.send through the community token "
                                              "(VK_COMMUNITY_TOKEN); a retry never sends twice");
  notify->add_option("--user", n_user, "recipient VK id")->required();
  auto* t = notify->add_option("--text", text, "the message");
  auto* m = notify->add_option("--from-match", match_file, "facecat-match JSONL output ('-' for stdin)");
  t->excludes(m);
  notify->add_flag("--dry-run", dry_run, "print the message and its random_id instead of sending");

  if (!parse_command_line(app, argc, argv)) return exit_code::ok;
  if (notify->parsed() && text.empty() && match_file.empty())
    throw Fatal("notify needs --text or --from-match", exit_code::usage);
  std::map<std::string, std::string> flags;
  if (!out.empty()) flags["vk.photos_dir"] = out;
  if (!max_age.empty()) flags["vk.max_age"] = max_age;
  Config cfg;
  if (!setup_tool("facecat-vk", common, flags, cfg)) return exit_code::ok;

  if (fetch->parsed()) return fetch_cmd(cfg, fo, cfg.get("vk.max_age"), no_execute);
  if (sug->parsed()) return suggest_cmd(cfg, s_user, limit);
  return notify_cmd(cfg, n_user, text, match_file, dry_run);
}

}  // namespace facecat::tools
