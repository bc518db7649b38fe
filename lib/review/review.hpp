// facecat-review: a local web page for naming people, served from the catalog (Datasette's model: one command
// serves one SQLite file). cpp-httplib (Debian's libcpp-httplib) does HTTP; this folder does pages, access rules
// and actions.
//
// - Binds 127.0.0.1 by default; any other address needs allow_remote (the tool prints a warning).
// - A per-run secret (32 bytes from /dev/urandom) is in the printed URL; the first visit turns it into an
//   HttpOnly, SameSite=Strict cookie. Every request without it gets 403. Every change (POST) also needs the page's
//   CSRF token in a header, a JSON body, a Host of this server and, when the browser sends one, an Origin of this
//   server.
// - Images are served by catalog id only (/crop/<face>, /original/<file>): a path never comes from the request,
//   and a file that is a symlink or not a regular file is 404.
// - Every action is one short transaction through lib/people, with the catalog's writer lock taken for that
//   transaction only; when another writer (a cron facecat-detect) holds it, the action answers 503 {"busy"} at
//   once and the page retries.
#pragma once
#include <cstddef>
#include <filesystem>
#include <functional>
#include <string>

#include "util/result.hpp"

namespace facecat::review {

struct Options {
  std::filesystem::path catalog;
  std::string bind = "127.0.0.1";
  int port = 0;                      // 0: a free port
  bool allow_remote = false;         // needed for a bind address that is not loopback
  size_t max_body = 64 * 1024;       // bytes of a request body; larger gets 413
  int busy_timeout_ms = 10000;       // SQLite busy timeout of each read or write
  int index_faces = 24;              // faces per card on the index
  int people_per_page = 50;          // cards per index page
};

struct Serving {
  std::string url;      // with the secret: the one address that opens the page
  std::string host;
  int port = 0;
};

// Serves until a stop is requested (SIGINT/SIGTERM/SIGHUP: core/signals). on_ready is called once the port is
// bound. Returns the number of actions done, or an error (cannot bind, bad options).
Result<size_t> serve(const Options& opts, const std::function<void(const Serving&)>& on_ready);

// True for 127.0.0.0/8, ::1 and "localhost".
bool is_loopback(const std::string& host);

}  // namespace facecat::review
