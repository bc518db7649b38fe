#include "review/review.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <httplib.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "catalog/catalog.hpp"
#include "core/signals.hpp"
#include "people/people.hpp"
#include "review/pages.hpp"
#include "util/text.hpp"

namespace facecat::review {

namespace {

using json = nlohmann::json;

Result<std::string> random_hex(size_t bytes) {
  int fd = ::open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return make_error(std::string("cannot open /dev/urandom: ") + std::strerror(errno));
  std::string raw(bytes, '\0');
  size_t got = 0;
  while (got < bytes) {
    ssize_t n = ::read(fd, raw.data() + got, bytes - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      return make_error("cannot read /dev/urandom");
    }
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : raw) {
    out += hex[c >> 4];
    out += hex[c & 15];
  }
  return out;
}

// Compares without an early exit, so that timing does not tell how much of a guess was right.
bool same_secret(const std::string& a, const std::string& b) {
  if (a.size() != b.size() || a.empty()) return false;
  unsigned char d = 0;
  for (size_t i = 0; i < a.size(); ++i) d |= static_cast<unsigned char>(a[i] ^ b[i]);
  return d == 0;
}

std::string cookie(const httplib::Request& req, const std::string& name) {
  for (size_t i = 0, n = req.get_header_value_count("Cookie"); i < n; ++i) {
    for (auto& part : util::split(req.get_header_value("Cookie", i), ';')) {
      auto kv = util::trim(part);
      if (kv.size() > name.size() && kv.compare(0, name.size(), name) == 0 && kv[name.size()] == '=')
        return kv.substr(name.size() + 1);
    }
  }
  return {};
}

std::string content_type_of(const std::string& raw_path) {
  auto ext = util::to_lower(std::filesystem::path(raw_path).extension().string());
  if (ext == ".jpg" || ext == ".jpeg") return "image/jpeg";
  if (ext == ".png") return "image/png";
  if (ext == ".webp") return "image/webp";
  if (ext == ".gif") return "image/gif";
  if (ext == ".bmp") return "image/bmp";
  if (ext == ".tif" || ext == ".tiff") return "image/tiff";
  if (ext == ".heic" || ext == ".heif") return "image/heif";
  return "application/octet-stream";
}

void reply(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

// A file the catalog names, sent only when it is a regular file reached without following a symlink at its end.
void send_file(httplib::Response& res, const std::string& raw_path) {
  int fd = raw_path.empty() ? -1 : ::open(raw_path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  struct stat st {};
  if (fd < 0 || ::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > (int64_t{1} << 30)) {
    if (fd >= 0) ::close(fd);
    res.status = 404;
    res.set_content("not found", "text/plain");
    return;
  }
  std::string data(static_cast<size_t>(st.st_size), '\0');
  size_t got = 0;
  while (got < data.size()) {
    ssize_t n = ::read(fd, data.data() + got, data.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  data.resize(got);
  res.set_header("Cache-Control", "private, max-age=60");
  res.set_content(std::move(data), content_type_of(raw_path).c_str());
}

struct Reply {
  int status = 200;
  json body;
};

Result<std::vector<int64_t>> face_list(const json& body, size_t max = 10000) {
  auto it = body.find("faces");
  if (it == body.end() || !it->is_array() || it->empty()) return make_error("select one or more faces first");
  if (it->size() > max) return make_error("too many faces in one request");
  std::vector<int64_t> out;
  for (auto& v : *it) {
    if (!v.is_number_integer()) return make_error("faces must be face ids");
    out.push_back(v.get<int64_t>());
  }
  return out;
}

Result<int64_t> id_field(const json& body, const char* key) {
  auto it = body.find(key);
  if (it == body.end() || !it->is_number_integer()) return make_error(std::string("'") + key + "' must be an id");
  return it->get<int64_t>();
}

Result<people::Ref> person_ref(catalog::Db& db, const json& body, const char* key) {
  auto id = id_field(body, key);
  if (!id) return id.error();
  auto s = db.prepare("SELECT 1 FROM people WHERE id = ?");
  s.bind(1, *id);
  if (!s.step()) return make_error("no such person: reload the page");
  return people::Ref{people::Ref::Kind::Person, *id};
}

class App {
 public:
  App(const Options& o, std::string secret, std::string csrf)
      : o_(o), secret_(std::move(secret)), csrf_(std::move(csrf)) {}

  void install(httplib::Server& svr) {
    svr.set_payload_max_length(o_.max_body);
    svr.set_keep_alive_timeout(2);
    svr.set_read_timeout(10, 0);
    svr.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      return gate(req, res) ? httplib::Server::HandlerResponse::Unhandled : httplib::Server::HandlerResponse::Handled;
    });
    svr.Get("/", [this](const httplib::Request& req, httplib::Response& res) {
      auto c = ctx();
      if (auto pg = util::parse_int(req.get_param_value("page"))) c.page = static_cast<int>(std::clamp<int64_t>(*pg, 1, 1000000));
      with_reader(res, [&](catalog::Db& db) { res.set_content(index_page(db, c), "text/html; charset=utf-8"); });
    });
    svr.Get(R"(/person/(\d{1,18}))", [this](const httplib::Request& req, httplib::Response& res) {
      int64_t id = std::stoll(req.matches[1]);
      with_reader(res, [&](catalog::Db& db) {
        auto h = person_page(db, id, ctx());
        if (!h) {
          res.status = 404;
          res.set_content("no such person", "text/plain");
        } else {
          res.set_content(*h, "text/html; charset=utf-8");
        }
      });
    });
    svr.Get(R"(/crop/(\d{1,18}))", [this](const httplib::Request& req, httplib::Response& res) {
      int64_t id = std::stoll(req.matches[1]);
      std::string path;
      with_reader(res, [&](catalog::Db& db) {
        auto s = db.prepare("SELECT crop_path FROM faces WHERE id = ?");
        s.bind(1, id);
        if (s.step() && !s.is_null(0)) path = s.blob(0);
      });
      if (res.status == -1 || res.status == 200) send_file(res, path);
    });
    svr.Get(R"(/original/(\d{1,18}))", [this](const httplib::Request& req, httplib::Response& res) {
      int64_t id = std::stoll(req.matches[1]);
      std::string path;
      with_reader(res, [&](catalog::Db& db) {
        auto s = db.prepare("SELECT path FROM files WHERE id = ? AND kind = 'image'");
        s.bind(1, id);
        if (s.step() && !s.is_null(0)) path = s.blob(0);
      });
      if (res.status == -1 || res.status == 200) send_file(res, path);
    });
    action(svr, "/api/name", [](catalog::Db& db, const json& b) -> Result<Reply> {
      auto ref = person_ref(db, b, "person");
      if (!ref) return ref.error();
      auto it = b.find("name");
      if (it == b.end() || !it->is_string()) return make_error("'name' must be text");
      std::string name = util::trim(it->get<std::string>());
      if (name.empty() || name.size() > 200) return make_error("a name is 1 to 200 characters");
      bool merge = b.value("merge", false);
      auto ex = db.prepare(
          "SELECT p.id, (SELECT count(*) FROM faces f WHERE f.person_id = p.id AND coalesce(f.assignment,'') <> "
          "'rejected' AND f.label = 'face') FROM people p WHERE p.name = ? ORDER BY p.id LIMIT 1");
      ex.bind(1, name);
      if (ex.step() && ex.i64(0) != ref->id && !merge)
        return Reply{409, json{{"exists", true}, {"person", ex.i64(0)}, {"faces", ex.i64(1)}, {"name", name}}};
      auto r = people::name(db, *ref, name, merge);
      if (!r) return r.error();
      json confirmed = json::array();
      if (auto c = b.find("confirm"); c != b.end() && c->is_array() && !c->empty()) {
        auto faces = face_list(json{{"faces", *c}});
        if (!faces) return faces.error();
        const int64_t pid = (*r)["person_id"].get<int64_t>();
        auto owner = db.prepare("SELECT 1 FROM faces WHERE id = ? AND person_id = ? AND coalesce(assignment,'') <> 'rejected'");
        for (int64_t f : *faces) {
          owner.reset();
          owner.bind_all(f, pid);
          if (!owner.step()) continue;  // moved since the page was drawn: not what the person saw
          auto c2 = people::confirm(db, people::Ref{people::Ref::Kind::Face, f});
          if (!c2) return c2.error();
          confirmed.push_back(f);
        }
      }
      (*r)["confirmed"] = confirmed;
      return Reply{200, *r};
    });
    action(svr, "/api/confirm", [](catalog::Db& db, const json& b) -> Result<Reply> {
      auto ref = person_ref(db, b, "person");
      if (!ref) return ref.error();
      auto r = people::confirm(db, *ref);
      if (!r) return r.error();
      return Reply{200, *r};
    });
    action(svr, "/api/reject", [](catalog::Db& db, const json& b) -> Result<Reply> {
      auto faces = face_list(b);
      if (!faces) return faces.error();
      json out = json::array();
      for (int64_t f : *faces) {
        auto r = people::reject(db, people::Ref{people::Ref::Kind::Face, f});
        if (!r) return r.error();
        out.push_back(*r);
      }
      return Reply{200, out};
    });
    action(svr, "/api/split", [](catalog::Db& db, const json& b) -> Result<Reply> {
      auto faces = face_list(b);
      if (!faces) return faces.error();
      if (b.contains("person")) {
        auto ref = person_ref(db, b, "person");
        if (!ref) return ref.error();
        auto s = db.prepare("SELECT 1 FROM faces WHERE id = ? AND person_id = ?");
        for (int64_t f : *faces) {
          s.reset();
          s.bind_all(f, ref->id);
          if (!s.step()) return make_error("face f" + std::to_string(f) + " is not this person's any more: reload");
        }
      }
      auto r = people::split(db, *faces, std::nullopt);
      if (!r) return r.error();
      return Reply{200, *r};
    });
    action(svr, "/api/notface", [](catalog::Db& db, const json& b) -> Result<Reply> {
      auto faces = face_list(b);
      if (!faces) return faces.error();
      json out = json::array();
      for (int64_t f : *faces) {
        auto r = people::not_a_face(db, f);
        if (!r) return r.error();
        out.push_back(*r);
      }
      return Reply{200, out};
    });
    action(svr, "/api/merge", [](catalog::Db& db, const json& b) -> Result<Reply> {
      auto from = person_ref(db, b, "person");
      if (!from) return from.error();
      auto into = person_ref(db, b, "into");
      if (!into) return into.error();
      auto r = people::merge(db, *into, *from);
      if (!r) return r.error();
      return Reply{200, *r};
    });
  }

  void allow_host(const std::string& host, int port) {
    std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
    hosts_.insert(h + ":" + std::to_string(port));
    origins_.insert("http://" + h + ":" + std::to_string(port));
  }
  void set_port(int port) { cookie_name_ = "facecat_review_" + std::to_string(port); }
  size_t actions() const { return generation_.load(); }

 private:
  PageContext ctx() const {
    PageContext c;
    c.csrf = csrf_;
    c.catalog_name = util::utf8_lossy(o_.catalog.string());
    c.generation = generation_.load();
    c.index_faces = o_.index_faces;
    c.cards_per_page = o_.people_per_page;
    return c;
  }

  // Every request passes here first (before its body is read): the Host, the secret, and for a change the CSRF
  // token, the Origin and a JSON body. false: answered (403 and the like).
  bool gate(const httplib::Request& req, httplib::Response& res) {
    res.set_header("X-Content-Type-Options", "nosniff");
    res.set_header("Referrer-Policy", "no-referrer");
    res.set_header("X-Frame-Options", "DENY");
    res.set_header("Content-Security-Policy",
                   "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
                   "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'");
    auto deny = [&](int status, const std::string& why) {
      res.status = status;
      res.set_content(why + "\n", "text/plain");
      return false;
    };
    if (!o_.allow_remote && !hosts_.count(req.get_header_value("Host"))) return deny(403, "forbidden: unexpected Host");
    if (req.method == "GET" && req.path == "/" && req.has_param("token")) {
      if (!same_secret(req.get_param_value("token"), secret_)) return deny(403, "forbidden: wrong token");
      res.set_header("Set-Cookie", cookie_name_ + "=" + secret_ + "; Path=/; HttpOnly; SameSite=Strict");
      res.set_redirect("/", 303);
      return false;
    }
    if (!same_secret(cookie(req, cookie_name_), secret_))
      return deny(403, "forbidden: open the address that facecat-review printed (it carries this run's secret)");
    if (req.method == "GET" || req.method == "HEAD") return true;
    if (req.method != "POST") return deny(405, "method not allowed");
    if (!same_secret(req.get_header_value("X-Facecat-CSRF"), csrf_)) return deny(403, "forbidden: missing CSRF token");
    if (req.has_header("Origin") && !origins_.count(req.get_header_value("Origin")))
      return deny(403, "forbidden: cross-origin request");
    if (req.get_header_value("Content-Type").rfind("application/json", 0) != 0)
      return deny(415, "a change is a JSON body");
    return true;
  }

  void with_reader(httplib::Response& res, const std::function<void(catalog::Db&)>& fn) {
    catalog::OpenOptions oo;
    oo.mode = catalog::Mode::Read;
    oo.busy_timeout_ms = o_.busy_timeout_ms;
    auto cat = catalog::Catalog::open(o_.catalog, oo);
    if (!cat) {
      res.status = 500;
      res.set_content(cat.error().message, "text/plain");
      return;
    }
    try {
      fn(cat->db());
    } catch (const catalog::DbError& e) {
      res.status = 500;
      res.set_content(std::string("catalog error: ") + e.what(), "text/plain");
    }
  }

  std::string lock_holder() const {
    std::string holder;
    int fd = ::open((o_.catalog.string() + ".lock").c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      char buf[128] = {0};
      if (::read(fd, buf, sizeof buf - 1) > 0) holder = util::trim(buf);
      ::close(fd);
    }
    return holder;
  }

  // One change: the writer lock and one transaction, both for this request only. A lock held by another process
  // answers 503 {"busy"} at once (the page retries); any error rolls the transaction back.
  void action(httplib::Server& svr, const char* path, std::function<Result<Reply>(catalog::Db&, const json&)> fn) {
    svr.Post(path, [this, path, fn](const httplib::Request& req, httplib::Response& res) {
      json body = json::parse(req.body, nullptr, false);
      if (body.is_discarded() || !body.is_object()) return reply(res, 400, json{{"error", "the body is not a JSON object"}});
      std::lock_guard<std::mutex> one_at_a_time(write_mutex_);
      catalog::OpenOptions oo;
      oo.mode = catalog::Mode::Write;
      oo.wait_for_lock = false;
      oo.create = false;
      oo.busy_timeout_ms = o_.busy_timeout_ms;
      auto cat = catalog::Catalog::open(o_.catalog, oo);
      if (!cat) {
        if (cat.error().message.find("being written by another process") != std::string::npos) {
          spdlog::info("{}: the catalog is busy ({}); the page retries", path, lock_holder());
          return reply(res, 503, json{{"busy", true}, {"holder", lock_holder()}});
        }
        return reply(res, 500, json{{"error", cat.error().message}});
      }
      try {
        auto& db = cat->db();
        catalog::Transaction tx(db);
        auto r = fn(db, body);
        if (!r) return reply(res, 400, json{{"error", r.error().message}});
        if (r->status != 200) return reply(res, r->status, r->body);
        tx.commit();
        ++generation_;
        spdlog::info("{}: {}", path, r->body.dump());
        return reply(res, 200, json{{"ok", true}, {"result", r->body}});
      } catch (const catalog::DbError& e) {
        if (e.rc == SQLITE_BUSY || e.rc == SQLITE_LOCKED)
          return reply(res, 503, json{{"busy", true}, {"holder", "SQLite busy"}});
        return reply(res, 500, json{{"error", std::string("catalog error: ") + e.what()}});
      }
    });
  }

  const Options& o_;
  std::string secret_, csrf_, cookie_name_ = "facecat_review";
  std::set<std::string> hosts_, origins_;
  std::mutex write_mutex_;
  std::atomic<uint64_t> generation_{0};
};

}  // namespace

bool is_loopback(const std::string& host) {
  if (host == "localhost" || host == "::1") return true;
  in_addr a{};
  if (::inet_pton(AF_INET, host.c_str(), &a) == 1) return (ntohl(a.s_addr) >> 24) == 127;
  return false;
}

Result<size_t> serve(const Options& o, const std::function<void(const Serving&)>& on_ready) {
  if (!is_loopback(o.bind) && !o.allow_remote)
    return make_error("--bind " + o.bind + " is not a loopback address: pass --allow-remote to serve other machines");
  auto secret = random_hex(32);
  if (!secret) return secret.error();
  auto csrf = random_hex(32);
  if (!csrf) return csrf.error();
  App app(o, *secret, *csrf);
  httplib::Server svr;
  app.install(svr);
  int port = o.port;
  if (port == 0) port = svr.bind_to_any_port(o.bind.c_str());
  else if (!svr.bind_to_port(o.bind.c_str(), port)) port = -1;
  if (port <= 0) return make_error("cannot listen on " + o.bind + ":" + std::to_string(o.port) + ": " + std::strerror(errno));
  app.set_port(port);
  std::string shown = o.bind == "0.0.0.0" || o.bind == "::" ? "127.0.0.1" : o.bind;
  for (auto h : {std::string("127.0.0.1"), std::string("localhost"), std::string("::1"), o.bind, shown}) app.allow_host(h, port);
  Serving s;
  s.host = shown;
  s.port = port;
  s.url = "http://" + (shown.find(':') != std::string::npos ? "[" + shown + "]" : shown) + ":" + std::to_string(port) +
          "/?token=" + *secret;
  std::atomic<bool> ended{false};
  std::thread server([&] {
    svr.listen_after_bind();
    ended = true;
  });
  // httplib's stop() does nothing until listen has started (is_running), so a stop request that came right after
  // the "serving" line could be lost and leave the server running: say "ready" only once it listens.
  while (!svr.is_running() && !ended) std::this_thread::yield();
  try {
    on_ready(s);
  } catch (...) {
    svr.stop();
    server.join();
    throw;
  }
  while (!interrupted() && !ended) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  svr.stop();
  server.join();
  return app.actions();
}

}  // namespace facecat::review
