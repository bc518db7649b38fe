#include "vk/crawl.hpp"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "core/exit_codes.hpp"
#include "core/output.hpp"
#include "core/signals.hpp"
#include "core/tool.hpp"
#include "media/metadata.hpp"
#include "scan/register.hpp"
#include "media/sniff.hpp"
#include "util/atomic_file.hpp"
#include "util/hash.hpp"
#include "util/text.hpp"

namespace fs = std::filesystem;

namespace facecat::vk {
namespace {

constexpr const char* kFields = "has_photo,screen_name";
constexpr int kPage = 5000;     // friends.get's largest count
constexpr int kBatch = 25;      // execute's call cap

std::string id_text(const json& v) {
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  if (v.is_string()) return v.get<std::string>();
  return {};
}

}  // namespace

// ---- helpers ----------------------------------------------------------------------------------------------------
std::optional<UserInfo> parse_user(const json& j) {
  if (!j.is_object() || !j.contains("id")) return std::nullopt;
  UserInfo u;
  u.id = id_text(j["id"]);
  if (u.id.empty()) return std::nullopt;
  std::string first = j.value("first_name", std::string()), last = j.value("last_name", std::string());
  u.name = util::trim(first + " " + last);
  if (j.contains("deactivated") && j["deactivated"].is_string()) {
    u.status = j["deactivated"] == "banned" ? "banned" : "deleted";
    u.can_access = false;
    u.has_photo = 0;
    return u;
  }
  bool closed = j.value("is_closed", false);
  u.status = closed ? "closed" : "open";
  u.can_access = !closed || j.value("can_access_closed", false);
  if (j.contains("has_photo") && j["has_photo"].is_number_integer()) u.has_photo = j["has_photo"].get<int>() ? 1 : 0;
  return u;
}

bool is_placeholder_url(const std::string& url) {
  auto path_end = url.find_first_of("?#");
  std::string path = url.substr(0, path_end);
  auto slash = path.rfind('/');
  std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  if (util::starts_with(name, "camera_") || util::starts_with(name, "deactivated_") ||
      util::starts_with(name, "community_"))
    return true;
  return url.find("ava=1") != std::string::npos && url.find("/images/") != std::string::npos;
}

std::optional<SizeChoice> choose_size(const json& photo, const std::string& want) {
  std::vector<SizeChoice> all;
  auto add = [&](const json& s) {
    if (!s.is_object()) return;
    SizeChoice c;
    c.type = s.value("type", std::string());
    if (s.contains("url") && s["url"].is_string()) c.url = s["url"];
    else if (s.contains("src") && s["src"].is_string()) c.url = s["src"];  // old answers
    if (c.url.empty()) return;
    c.width = s.value("width", int64_t{0});
    c.height = s.value("height", int64_t{0});
    all.push_back(std::move(c));
  };
  if (photo.contains("sizes") && photo["sizes"].is_array())
    for (const auto& s : photo["sizes"]) add(s);
  if (photo.contains("orig_photo") && photo["orig_photo"].is_object()) {
    json o = photo["orig_photo"];
    if (!o.contains("type")) o["type"] = "base";
    add(o);
  }
  if (all.empty()) return std::nullopt;
  if (want != "max")
    for (const auto& c : all)
      if (c.type == want) return c;
  auto is_crop = [](const std::string& t) { return t == "o" || t == "p" || t == "q" || t == "r"; };
  // Type order for answers without pixel sizes (s < m < x < y < z < w).
  auto rank = [](const std::string& t) {
    static const std::string order = "smxyzw";
    auto p = order.find(t);
    return t.size() == 1 && p != std::string::npos ? static_cast<int>(p) : (t == "base" || t == "orig" ? 9 : -1);
  };
  const SizeChoice* best = nullptr;
  for (int pass = 0; pass < 2 && !best; ++pass) {
    for (const auto& c : all) {
      if (pass == 0 && is_crop(c.type)) continue;
      if (!best || c.width * c.height > best->width * best->height ||
          (c.width * c.height == best->width * best->height && rank(c.type) > rank(best->type)))
        best = &c;
    }
  }
  return *best;
}

std::string photo_basename(const std::string& owner, const std::string& photo) {
  auto clean = [](const std::string& s) {
    std::string r;
    for (char c : s) r += (std::isdigit(static_cast<unsigned char>(c)) || c == '-') ? c : '_';
    return r.empty() ? std::string("_") : r;
  };
  return clean(owner) + "_" + clean(photo);
}

std::optional<int64_t> parse_duration(const std::string& s) {
  if (s.empty()) return std::nullopt;
  int64_t mult = 1;
  std::string num = s;
  switch (s.back()) {
    case 's': mult = 1; num.pop_back(); break;
    case 'm': mult = 60; num.pop_back(); break;
    case 'h': mult = 3600; num.pop_back(); break;
    case 'd': mult = 86400; num.pop_back(); break;
    default: break;
  }
  auto v = util::parse_int(num);
  if (!v || *v < 0) return std::nullopt;
  return *v * mult;
}

json FetchStats::to_json() const {
  return json{{"new_person_count", people_new},
              {"seen_person_count", people_seen},
              {"new_friendship_count", edges_new},
              {"friend_list_count", friend_lists},
              {"fresh_friend_list_count", friend_lists_fresh},
              {"private_friend_list_count", friend_lists_private},
              {"failed_friend_list_count", friend_lists_failed},
              {"photo_list_count", photo_lists},
              {"fresh_photo_list_count", photo_lists_fresh},
              {"failed_photo_list_count", photo_lists_failed},
              {"listed_photo_count", photos_listed},
              {"downloaded_count", downloaded},
              {"already_present_count", already_present},
              {"missing_count", missing},
              {"rejected_count", rejected},
              {"placeholder_count", placeholders},
              {"failed_download_count", download_failed},
              {"request_count", requests},
              {"retry_count", retries},
              {"execute", execute_used},
              {"stopped", stopped}};
}

// ---- the crawl --------------------------------------------------------------------------------------------------
namespace {

class Crawler {
 public:
  Crawler(catalog::Catalog& cat, Api& api, const DownloaderOptions& dlo, const FetchOptions& o, const Emit& emit)
      : db_(cat.db()), api_(api), dl_(dlo), o_(o), emit_(emit), now_(util::now_unix()), use_execute_(o.use_execute) {
    api_.set_idle([this](std::chrono::milliseconds ms) { idle(ms); });
  }
  ~Crawler() { api_.set_idle({}); }

  FetchStats run();

 private:
  // catalog writes ---------------------------------------------------------------------------------------------
  int64_t upsert_person(const UserInfo& u);
  void add_edge(const std::string& x, const std::string& y);
  void mark_friends(const std::string& id, const char* status, int64_t count);
  void mark_photos(const std::string& id, const char* status);
  struct CrawlRow {
    std::optional<int64_t> friends_at, photos_at;
    std::string friends_status, photos_status, person_status;
    int has_photo = -1;
    int can_access = -1;
  };
  CrawlRow crawl_row(const std::string& id);
  std::vector<std::string> neighbours(const std::string& id);
  bool fresh(const std::optional<int64_t>& at) const { return at && *at >= now_ - o_.max_age_s; }

  // API ----------------------------------------------------------------------------------------------------------
  using OnOk = std::function<void(const std::string& id, const json& response)>;
  using OnErr = std::function<void(const std::string& id, const ApiError& e)>;
  void batched(const std::string& method, const std::vector<std::string>& ids,
               const std::function<json(const std::string&)>& params, const OnOk& ok, const OnErr& err);
  void direct(const std::string& method, const std::string& id, const json& params, const OnOk& ok, const OnErr& err);
  [[noreturn]] void fatal(const ApiError& e);
  bool stopped(const std::string& method) const { return stopped_.count(method) > 0; }
  void stop_method(const ApiError& e);

  // steps --------------------------------------------------------------------------------------------------------
  UserInfo resolve_root();
  void crawl_friends(const std::vector<std::string>& ids);
  void list_photos(const std::vector<std::string>& ids);
  void queue_pending_downloads();
  void on_download(DownloadResult&& r);
  void idle(std::chrono::milliseconds ms);
  void commit_soon();
  void flush_dl_tx();
  // Every batch runs in its own transaction; downloads that finish meanwhile are written inside it.
  struct BatchTx {
    explicit BatchTx(Crawler& c) : c_(c), tx_((c.flush_dl_tx(), c.db_)) { c_.in_batch_ = true; }
    ~BatchTx() { c_.in_batch_ = false; }
    void commit() { tx_.commit(); }
    Crawler& c_;
    catalog::Transaction tx_;
  };

  catalog::Db& db_;
  Api& api_;
  Downloader dl_;
  const FetchOptions& o_;
  const Emit& emit_;
  int64_t now_;
  bool use_execute_;
  FetchStats st_;
  std::set<std::string> stopped_;
  std::unordered_map<std::string, int64_t> person_ids_;
  std::unordered_map<std::string, UserInfo> seen_;   // user objects met in this run
  std::unordered_set<std::string> queued_;           // "<owner>_<photo>" already queued for download
  struct Job {
    std::string owner, photo, url;
    int64_t person_id;
  };
  std::vector<Job> jobs_;
  std::unique_ptr<catalog::Transaction> dl_tx_;      // downloads are committed in small groups
  size_t dl_tx_n_ = 0;
  std::chrono::steady_clock::time_point dl_tx_since_;
  bool in_download_ = false;
  bool in_batch_ = false;
};

int64_t Crawler::upsert_person(const UserInfo& u) {
  auto it = person_ids_.find(u.id);
  if (it != person_ids_.end() && seen_.count(u.id)) return it->second;
  int64_t pid = 0;
  {
    auto s = db_.prepare("SELECT person_id FROM person_sources WHERE source='vk' AND external_id=?1");
    s.bind(1, u.id);
    if (s.step()) pid = s.i64(0);
  }
  if (pid == 0) {
    db_.prepare("INSERT INTO people(name, status, created_at, updated_at) VALUES(?1, 'named', ?2, ?2)")
        .bind_all(u.name, now_)
        .run();
    pid = db_.last_insert_id();
    db_.prepare("INSERT INTO person_sources(person_id, source, external_id, display_name, status, fetched_at) "
                "VALUES(?1, 'vk', ?2, ?3, ?4, ?5)")
        .bind_all(pid, u.id, u.name, u.status, now_)
        .run();
    ++st_.people_new;
    json e = {{"event", "vk_person"}, {"vk_id", u.id}, {"person_id", pid}, {"name", u.name}, {"status", u.status}};
    emit_(e);
  } else {
    db_.prepare("UPDATE person_sources SET display_name=?1, status=?2, fetched_at=?3 "
                "WHERE source='vk' AND external_id=?4")
        .bind_all(u.name, u.status, now_, u.id)
        .run();
  }
  db_.prepare("INSERT INTO vk_crawl(vk_id, has_photo, can_access) VALUES(?1, ?2, ?3) ON CONFLICT(vk_id) DO UPDATE "
              "SET has_photo=excluded.has_photo, can_access=excluded.can_access")
      .bind(1, u.id)
      .bind(2, u.has_photo < 0 ? std::optional<int64_t>() : std::optional<int64_t>(u.has_photo))
      .bind(3, int64_t{u.can_access ? 1 : 0})
      .run();
  if (!seen_.count(u.id)) ++st_.people_seen;
  person_ids_[u.id] = pid;
  seen_[u.id] = u;
  return pid;
}

void Crawler::add_edge(const std::string& x, const std::string& y) {
  if (x == y) return;
  const std::string& a = std::min(x, y);
  const std::string& b = std::max(x, y);
  auto s = db_.prepare("INSERT OR IGNORE INTO friendships(source, a, b, fetched_at) VALUES('vk', ?1, ?2, ?3)");
  s.bind_all(a, b, now_).run();
  st_.edges_new += static_cast<uint64_t>(db_.changes());
}

void Crawler::mark_friends(const std::string& id, const char* status, int64_t count) {
  db_.prepare("INSERT INTO vk_crawl(vk_id, friends_at, friends_status, friends_count) VALUES(?1, ?2, ?3, ?4) "
              "ON CONFLICT(vk_id) DO UPDATE SET friends_at=excluded.friends_at, "
              "friends_status=excluded.friends_status, friends_count=excluded.friends_count")
      .bind_all(id, now_, std::string(status), count)
      .run();
}

void Crawler::mark_photos(const std::string& id, const char* status) {
  db_.prepare("INSERT INTO vk_crawl(vk_id, photos_at, photos_status) VALUES(?1, ?2, ?3) "
              "ON CONFLICT(vk_id) DO UPDATE SET photos_at=excluded.photos_at, photos_status=excluded.photos_status")
      .bind_all(id, now_, std::string(status))
      .run();
}

Crawler::CrawlRow Crawler::crawl_row(const std::string& id) {
  CrawlRow r;
  auto s = db_.prepare(
      "SELECT c.friends_at, c.photos_at, ifnull(c.friends_status,''), ifnull(c.photos_status,''), "
      "ifnull(c.has_photo,-1), ifnull(c.can_access,-1), ifnull(p.status,'') FROM vk_crawl c "
      "LEFT JOIN person_sources p ON p.source='vk' AND p.external_id=c.vk_id WHERE c.vk_id=?1");
  s.bind(1, id);
  if (s.step()) {
    r.friends_at = s.opt_i64(0);
    r.photos_at = s.opt_i64(1);
    r.friends_status = s.text(2);
    r.photos_status = s.text(3);
    r.has_photo = static_cast<int>(s.i64(4));
    r.can_access = static_cast<int>(s.i64(5));
    r.person_status = s.text(6);
  }
  return r;
}

std::vector<std::string> Crawler::neighbours(const std::string& id) {
  std::vector<std::string> out;
  auto s = db_.prepare("SELECT b FROM friendships WHERE source='vk' AND a=?1 UNION "
                       "SELECT a FROM friendships WHERE source='vk' AND b=?1");
  s.bind(1, id);
  while (s.step()) out.push_back(s.text(0));
  return out;
}

void Crawler::flush_dl_tx() {
  if (dl_tx_) {
    dl_tx_->commit();
    dl_tx_.reset();
    dl_tx_n_ = 0;
  }
}

void Crawler::fatal(const ApiError& e) {
  if (dl_tx_ && !in_batch_) flush_dl_tx();  // downloads finished so far are kept
  throw Fatal(api_.fatal_message(e), exit_code::remote);
}

void Crawler::stop_method(const ApiError& e) {
  if (stopped_.insert(e.method).second) {
    std::string why = e.code == 9 ? "flood control (error 9)" : "its daily quota (error 29)";
    std::string msg = "VK stopped " + e.method + ": " + why +
                      "; what was fetched is saved — run the same command again later (hours for flood control, "
                      "tomorrow for a quota) to continue";
    spdlog::warn("{}", msg);
    st_.stopped.push_back(msg);
    emit_(json{{"event", "stopped"}, {"method", e.method}, {"error_code", e.code}, {"reason", msg}});
  }
}

void Crawler::direct(const std::string& method, const std::string& id, const json& params, const OnOk& ok,
                     const OnErr& err) {
  std::map<std::string, std::string> p;
  for (auto it = params.begin(); it != params.end(); ++it)
    p[it.key()] = it->is_string() ? it->get<std::string>() : it->dump();
  auto r = api_.call(method, p);
  if (r.ok()) return ok(id, r.response);
  if (r.error.cls == ErrorClass::Fatal) fatal(r.error);
  if (r.error.cls == ErrorClass::StopMethod) {
    stop_method(r.error);
    return;
  }
  err(id, r.error);
}

void Crawler::batched(const std::string& method, const std::vector<std::string>& ids,
                      const std::function<json(const std::string&)>& params, const OnOk& ok, const OnErr& err) {
  for (size_t i = 0; i < ids.size() && !stopped(method);) {
    throw_if_interrupted();
    size_t n = std::min<size_t>(kBatch, ids.size() - i);
    std::vector<std::string> chunk(ids.begin() + static_cast<std::ptrdiff_t>(i),
                                   ids.begin() + static_cast<std::ptrdiff_t>(i + n));
    i += n;
    // A work list of chunks: error 13 (answer too big) splits a chunk in two.
    std::vector<std::vector<std::string>> work{chunk};
    while (!work.empty() && !stopped(method)) {
      auto part = std::move(work.back());
      work.pop_back();
      BatchTx tx(*this);
      if (!use_execute_ || part.size() == 1) {
        for (const auto& id : part) {
          if (stopped(method)) break;
          direct(method, id, params(id), ok, err);
        }
        tx.commit();
        continue;
      }
      std::vector<ExecuteCall> calls;
      for (const auto& id : part) {
        ExecuteCall c{"u" + id, method, params(id)};
        for (auto& ch : c.key)
          if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
        calls.push_back(std::move(c));
      }
      auto r = api_.call("execute", {{"code", execute_code(calls)}});
      if (!r.ok()) {
        const auto& e = r.error;
        if (e.code == 13 && part.size() > 1) {
          spdlog::info("execute answer too big for {} calls (error 13); splitting", part.size());
          size_t half = part.size() / 2;
          work.emplace_back(part.begin() + static_cast<std::ptrdiff_t>(half), part.end());
          work.emplace_back(part.begin(), part.begin() + static_cast<std::ptrdiff_t>(half));
          continue;
        }
        if (e.code == 3 || e.code == 12 || e.code == 15 || e.code == 27 || e.code == 28 || e.code == 13) {
          if (e.code != 13) {
            spdlog::info("execute is not available with {} (error {}); falling back to one {} per person",
                         api_.options().token_label, e.code, method);
            use_execute_ = false;
          }
          for (const auto& id : part) {
            if (stopped(method)) break;
            direct(method, id, params(id), ok, err);
          }
          tx.commit();
          continue;
        }
        if (e.cls == ErrorClass::Fatal) fatal(e);
        if (e.cls == ErrorClass::StopMethod) {
          ApiError m = e;
          m.method = method;
          stop_method(m);
          break;
        }
        for (const auto& id : part) err(id, e);
        tx.commit();
        continue;
      }
      st_.execute_used = true;
      // false values pair with execute_errors in order.
      size_t next_err = 0;
      for (size_t k = 0; k < part.size(); ++k) {
        const auto& key = calls[k].key;
        const json& v = r.response.is_object() && r.response.contains(key) ? r.response[key] : json(false);
        if (!v.is_boolean()) {
          ok(part[k], v);
          continue;
        }
        ApiError e;
        e.method = method;
        if (r.execute_errors.is_array() && next_err < r.execute_errors.size()) {
          const auto& x = r.execute_errors[next_err++];
          e.code = x.value("error_code", 0);
          e.message = x.value("error_msg", std::string());
        } else {
          e.message = "execute returned false without an error";
        }
        e.cls = classify(e.code);
        if (e.cls == ErrorClass::Fatal) {
          tx.commit();
          fatal(e);
        }
        if (e.cls == ErrorClass::StopMethod) {
          stop_method(e);
          continue;
        }
        if (e.cls == ErrorClass::Retry) {
          // A sub-call hit a transient error: try that one alone.
          direct(method, part[k], params(part[k]), ok, err);
          continue;
        }
        err(part[k], e);
      }
      tx.commit();
    }
  }
}

UserInfo Crawler::resolve_root() {
  auto r = api_.call("users.get", {{"user_ids", o_.user}, {"fields", kFields}});
  if (!r.ok()) {
    if (r.error.cls == ErrorClass::Fatal) fatal(r.error);
    if (r.error.code == 113 || r.error.code == 18)
      throw Fatal("VK user '" + o_.user + "' does not exist (" + r.error.describe() + ")", exit_code::usage);
    throw Fatal("cannot resolve VK user '" + o_.user + "': " + r.error.describe(), exit_code::remote);
  }
  if (!r.response.is_array() || r.response.empty())
    throw Fatal("VK user '" + o_.user + "' does not exist", exit_code::usage);
  auto u = parse_user(r.response[0]);
  if (!u) throw Fatal("users.get answered without a user id for '" + o_.user + "'", exit_code::remote);
  BatchTx tx(*this);
  upsert_person(*u);
  tx.commit();
  return *u;
}

void Crawler::crawl_friends(const std::vector<std::string>& ids) {
  // friend lists bigger than one page: the rest comes page by page
  std::unordered_map<std::string, std::vector<UserInfo>> partial;
  auto store = [&](const std::string& id, std::vector<UserInfo>& friends, int64_t count) {
    for (const auto& f : friends) {
      upsert_person(f);
      add_edge(id, f.id);
    }
    mark_friends(id, "ok", count);
    ++st_.friend_lists;
  };
  auto params = [](const std::string& id) {
    return json{{"user_id", id}, {"count", kPage}, {"offset", 0}, {"fields", kFields}};
  };
  auto err = [&](const std::string& id, const ApiError& e) {
    const char* status = (e.code == 18) ? "deleted" : (e.code == 15 || e.code == 30 || e.code == 200) ? "private" : nullptr;
    if (status) {
      mark_friends(id, status, 0);
      ++st_.friend_lists_private;
      spdlog::debug("friends of {}: {}", id, e.describe());
    } else {
      ++st_.friend_lists_failed;
      spdlog::warn("friends of {}: {}", id, e.describe());
      emit_(json{{"event", "error"}, {"vk_id", id}, {"method", e.method}, {"reason", e.describe()}});
    }
  };
  std::function<void(const std::string&, const json&)> ok = [&](const std::string& id, const json& resp) {
    std::vector<UserInfo> friends;
    int64_t count = resp.value("count", int64_t{0});
    if (resp.contains("items") && resp["items"].is_array())
      for (const auto& it : resp["items"])
        if (auto u = parse_user(it)) friends.push_back(std::move(*u));
    // The rest of a list longer than one page: more pages, all committed together with the first.
    int64_t offset = static_cast<int64_t>(friends.size());
    bool failed = false;
    while (offset < count && !stopped("friends.get")) {
      direct("friends.get", id, json{{"user_id", id}, {"count", kPage}, {"offset", offset}, {"fields", kFields}},
             [&](const std::string&, const json& r) {
               size_t before = friends.size();
               if (r.contains("items") && r["items"].is_array())
                 for (const auto& it : r["items"])
                   if (auto u = parse_user(it)) friends.push_back(std::move(*u));
               if (friends.size() == before) failed = true;  // no progress: the list shrank meanwhile
             },
             [&](const std::string& i, const ApiError& e) {
               failed = true;
               err(i, e);
             });
      if (failed || stopped("friends.get")) break;
      offset = static_cast<int64_t>(friends.size());
    }
    if (failed || (offset < count && stopped("friends.get"))) return;  // incomplete: not checkpointed
    store(id, friends, count);
  };
  batched("friends.get", ids, params, ok, err);
}

void Crawler::list_photos(const std::vector<std::string>& ids) {
  auto params = [&](const std::string& id) {
    return json{{"owner_id", id}, {"album_id", "profile"}, {"rev", 1}, {"photo_sizes", 1}, {"count", o_.photos}};
  };
  auto insert = db_.prepare(
      "INSERT INTO vk_photos(owner_id, photo_id, url, size_type, width, height, vk_date, status, error, listed_at) "
      "VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10) ON CONFLICT(owner_id, photo_id) DO UPDATE SET url=excluded.url, "
      "size_type=excluded.size_type, width=excluded.width, height=excluded.height, listed_at=excluded.listed_at, "
      "status=CASE WHEN vk_photos.status IN ('error','pending') THEN excluded.status ELSE vk_photos.status END");
  auto ok = [&](const std::string& id, const json& resp) {
    int taken = 0;
    if (resp.contains("items") && resp["items"].is_array()) {
      for (const auto& p : resp["items"]) {
        if (taken >= o_.photos) break;
        std::string pid = p.contains("id") ? id_text(p["id"]) : "";
        if (pid.empty()) continue;
        ++taken;
        ++st_.photos_listed;
        auto c = choose_size(p, o_.size);
        bool placeholder = !c || is_placeholder_url(c->url);
        if (placeholder) ++st_.placeholders;
        insert.bind(1, id).bind(2, pid).bind(3, c ? c->url : std::string());
        insert.bind(4, c ? std::optional<std::string>(c->type) : std::nullopt);
        insert.bind(5, c ? std::optional<int64_t>(c->width) : std::nullopt);
        insert.bind(6, c ? std::optional<int64_t>(c->height) : std::nullopt);
        insert.bind(7, p.contains("date") && p["date"].is_number_integer() ? std::optional<int64_t>(p["date"].get<int64_t>())
                                                                            : std::nullopt);
        insert.bind(8, placeholder ? "rejected" : "pending");
        if (placeholder) insert.bind(9, c ? "placeholder avatar" : "no image URL in the answer");
        else insert.bind(9, nullptr);
        insert.bind(10, now_);
        insert.run();
        insert.reset();
      }
    }
    mark_photos(id, "ok");
    ++st_.photo_lists;
  };
  auto err = [&](const std::string& id, const ApiError& e) {
    const char* status = (e.code == 18) ? "deleted" : (e.code == 15 || e.code == 30 || e.code == 200) ? "private" : nullptr;
    if (status) {
      mark_photos(id, status);
      ++st_.photo_lists;
    } else {
      ++st_.photo_lists_failed;
      spdlog::warn("photos of {}: {}", id, e.describe());
      emit_(json{{"event", "error"}, {"vk_id", id}, {"method", e.method}, {"reason", e.describe()}});
    }
  };
  // In chunks, so downloads start while the listing goes on.
  for (size_t i = 0; i < ids.size() && !stopped("photos.get"); i += kBatch * 4) {
    std::vector<std::string> part(ids.begin() + static_cast<std::ptrdiff_t>(i),
                                  ids.begin() + static_cast<std::ptrdiff_t>(std::min(ids.size(), i + kBatch * 4)));
    batched("photos.get", part, params, ok, err);
    queue_pending_downloads();
  }
}

void Crawler::queue_pending_downloads() {
  auto s = db_.prepare(
      "SELECT v.owner_id, v.photo_id, v.url, ps.person_id FROM vk_photos v "
      "JOIN person_sources ps ON ps.source='vk' AND ps.external_id=v.owner_id "
      "WHERE v.status IN ('pending','error') ORDER BY v.owner_id, v.photo_id");
  std::vector<Job> found;
  while (s.step()) found.push_back(Job{s.text(0), s.text(1), s.text(2), s.i64(3)});
  for (auto& j : found) {
    std::string key = j.owner + "_" + j.photo;
    if (!queued_.insert(key).second) continue;
    // A file already on disk (a run killed between rename and commit): register it, do not download again.
    auto base = o_.out / photo_basename(j.owner, j.photo);
    std::optional<fs::path> existing;
    for (const char* ext : {".jpg", ".png", ".webp", ".gif", ".bmp", ".tiff", ".heic"}) {
      fs::path p = base;
      p += ext;
      std::error_code ec;
      if (fs::is_regular_file(p, ec)) {
        existing = p;
        break;
      }
    }
    jobs_.push_back(std::move(j));
    uint64_t tag = jobs_.size() - 1;
    if (existing) {
      auto data = util::read_file(*existing, 256u << 20);
      if (data && media::sniff(std::string_view(*data).substr(0, 4096)).kind == media::Kind::Image) {
        DownloadResult r;
        r.tag = tag;
        r.url = jobs_[tag].url;
        r.response.status = 200;
        r.response.body = std::move(*data);
        r.attempts = 0;
        ++st_.already_present;
        on_download(std::move(r));
        continue;
      }
    }
    dl_.add(DownloadJob{jobs_[tag].url, tag});
  }
}

void Crawler::commit_soon() {
  if (dl_tx_ && !in_batch_ && (dl_tx_n_ >= 32 || std::chrono::steady_clock::now() - dl_tx_since_ > std::chrono::milliseconds(500))) {
    dl_tx_->commit();
    dl_tx_.reset();
    dl_tx_n_ = 0;
  }
}

void Crawler::on_download(DownloadResult&& r) {
  const Job& j = jobs_.at(r.tag);
  auto set_status = [&](const char* status, const std::string& error, std::optional<int64_t> file_id) {
    db_.prepare("UPDATE vk_photos SET status=?1, error=?2, file_id=?3, downloaded_at=?4 WHERE owner_id=?5 AND photo_id=?6")
        .bind(1, status)
        .bind(2, error.empty() ? std::optional<std::string>() : std::optional<std::string>(error))
        .bind(3, file_id)
        .bind(4, now_)
        .bind(5, j.owner)
        .bind(6, j.photo)
        .run();
  };
  // Downloads complete while other batches may hold a transaction (we are called from the API's idle hook):
  // group them in their own short transactions only when none is open.
  if (!in_batch_ && !dl_tx_) {
    dl_tx_ = std::make_unique<catalog::Transaction>(db_);
    dl_tx_since_ = std::chrono::steady_clock::now();
  }
  ++dl_tx_n_;
  auto fail = [&](const char* status, const std::string& why) {
    set_status(status, why, std::nullopt);
    json e = {{"event", "error"}, {"vk_id", j.owner}, {"photo_id", j.photo}, {"url", redact(r.url)}, {"reason", why}};
    emit_(e);
    spdlog::warn("photo {}_{}: {}", j.owner, j.photo, why);
  };
  const auto& resp = r.response;
  if (resp.status == 404 || resp.status == 410) {
    ++st_.missing;
    fail("missing", "HTTP " + std::to_string(resp.status) + " from " + redact(r.url));
  } else if (resp.status != 200) {
    ++st_.download_failed;
    fail("error", (resp.status ? "HTTP " + std::to_string(resp.status) : resp.error) + " after " +
                      std::to_string(r.attempts) + " attempts");
  } else {
    auto type = media::sniff(std::string_view(resp.body).substr(0, 4096));
    if (type.kind != media::Kind::Image) {
      ++st_.rejected;
      std::string head = resp.body.substr(0, 16);
      for (auto& c : head)
        if (!std::isprint(static_cast<unsigned char>(c))) c = '.';
      fail("rejected", "not an image (Content-Type '" + resp.content_type + "', starts with '" + head + "')");
    } else {
      std::string ext = type.format == "jpeg" ? ".jpg" : "." + type.format;
      fs::path target = o_.out / (photo_basename(j.owner, j.photo) + ext);
      bool already = r.attempts == 0;  // registered from disk, not downloaded
      if (!already) {
        auto f = util::AtomicFile::create(target);
        Result<void> w = f ? f->write(resp.body) : Result<void>(f.error());
        if (w) w = f->commit();
        if (!w) {
          ++st_.download_failed;
          fail("error", "cannot write " + target.string() + ": " + w.error().message);
          commit_soon();
          return;
        }
      }
      // Register exactly as facecat-scan does (scan::register_file): digest, sniff and metadata from disk.
      std::string abs = fs::absolute(target).lexically_normal().string();
      scan::Origin origin;
      origin.origin = "vk";
      origin.source_person_id = j.person_id;
      auto reg = scan::register_file(db_, abs, origin, now_);
      if (!reg) {
        ++st_.download_failed;
        fail("error", "cannot read back " + abs + ": " + reg.error().message);
        commit_soon();
        return;
      }
      int64_t file_id = reg->id;
      const auto& info = reg->facts.info;
      const auto& dup = reg->duplicate_of;
      const auto* dg = &reg->facts;
      set_status("ok", "", file_id);
      if (!already) ++st_.downloaded;
      json e = {{"event", already ? "registered" : "photo"}, {"vk_id", j.owner}, {"photo_id", j.photo},
                {"person_id", j.person_id}, {"file_id", file_id}, {"hash", dg->hash}, {"format", type.format}};
      put_path(e, abs);
      e["width"] = info.width ? json(*info.width) : json(nullptr);
      e["height"] = info.height ? json(*info.height) : json(nullptr);
      if (dup) e["duplicate_of"] = *dup;
      emit_(e);
    }
  }
  commit_soon();
}

void Crawler::idle(std::chrono::milliseconds ms) {
  if (dl_.pending() == 0 || in_download_) {
    std::this_thread::sleep_for(std::min(ms, std::chrono::milliseconds(50)));
    return;
  }
  in_download_ = true;
  try {
    dl_.pump(ms, [this](DownloadResult&& r) { on_download(std::move(r)); });
  } catch (...) {
    in_download_ = false;
    throw;
  }
  in_download_ = false;
}

FetchStats Crawler::run() {
  std::error_code ec;
  fs::create_directories(o_.out, ec);
  if (ec) throw Fatal("cannot create " + o_.out.string() + ": " + ec.message(), exit_code::some_failed);
  // Leftover temp files from a killed run: exactly AtomicFile's ".<name>.tmp.<16 hex>", regular files only, in a
  // folder that carries facecat's marker (vk_tool claims it before the crawl).
  util::remove_atomic_temps(o_.out);
  // Photos listed but not downloaded by an earlier run go first.
  queue_pending_downloads();

  UserInfo root = resolve_root();
  emit_(json{{"event", "user"}, {"vk_id", root.id}, {"name", root.name}, {"status", root.status}});

  // Level 1: the user's friends.
  std::vector<std::string> level1;
  auto rc = crawl_row(root.id);
  if (fresh(rc.friends_at)) {
    ++st_.friend_lists_fresh;
  } else if (!root.can_access) {
    BatchTx tx(*this);
    mark_friends(root.id, root.status == "closed" ? "private" : "deleted", 0);
    tx.commit();
  } else {
    crawl_friends({root.id});
  }
  level1 = neighbours(root.id);
  std::sort(level1.begin(), level1.end());
  if (crawl_row(root.id).friends_status == "private" || (!root.can_access && level1.empty()))
    emit_(json{{"event", "error"}, {"vk_id", root.id}, {"reason", "the friend list of " + root.id + " is private"}});

  // Level 2: the friends' friends.
  std::vector<std::string> everyone{root.id};
  everyone.insert(everyone.end(), level1.begin(), level1.end());
  if (o_.depth >= 2) {
    std::vector<std::string> todo;
    for (const auto& f : level1) {
      auto r = crawl_row(f);
      if (fresh(r.friends_at)) {
        ++st_.friend_lists_fresh;
        continue;
      }
      bool accessible = r.can_access != 0 && r.person_status != "deleted" && r.person_status != "banned";
      if (!accessible) {
        // Known closed or deleted: no call needed; record it as such.
        BatchTx tx(*this);
        mark_friends(f, r.person_status == "closed" ? "private" : "deleted", 0);
        tx.commit();
        ++st_.friend_lists_private;
        continue;
      }
      todo.push_back(f);
    }
    crawl_friends(todo);
    std::set<std::string> all(everyone.begin(), everyone.end());
    for (const auto& f : level1)
      for (auto& n : neighbours(f)) all.insert(std::move(n));
    everyone.assign(all.begin(), all.end());
  }

  // Photos of everyone reached.
  if (o_.photos > 0 && !stopped("photos.get")) {
    std::vector<std::string> todo;
    for (const auto& id : everyone) {
      auto r = crawl_row(id);
      if (fresh(r.photos_at)) {
        ++st_.photo_lists_fresh;
        continue;
      }
      if (r.person_status == "deleted" || r.person_status == "banned" || r.can_access == 0 || r.has_photo == 0)
        continue;
      todo.push_back(id);
    }
    list_photos(todo);
  }
  queue_pending_downloads();
  dl_.drain([this](DownloadResult&& r) { on_download(std::move(r)); }, [] { return interrupted(); });
  flush_dl_tx();
  throw_if_interrupted();
  st_.requests = api_.requests();
  st_.retries = api_.retries() + dl_.retried();
  return st_;
}

}  // namespace

FetchStats fetch(catalog::Catalog& cat, Api& api, const DownloaderOptions& dl_opts, const FetchOptions& opts,
                 const Emit& emit) {
  Crawler c(cat, api, dl_opts, opts, emit);
  return c.run();
}

}  // namespace facecat::vk
