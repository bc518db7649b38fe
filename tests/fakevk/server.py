#!/usr/bin/env python3
"""A fake VK API for facecat's tests and benchmarks (Python 3 standard library only).

Serves /method/<name> (GET and form POST) like api.vk.com, plus profile photos as real image files from
../shared/testdata/faces, over loopback. Everything is deterministic from the scenario (a JSON file or flags):

  python3 tests/fakevk/server.py [--config scenario.json] [--set key=json-value ...]

prints "PORT <n>" on stdout once it listens (port 0 picks a free one). What it reproduces (../shared/docs/vk-api.md):
- token kinds (user, service, group, expired user) and the method/token matrix (27, 28 and 5 as VK answers);
- a social graph from a seed: overlapping friend lists, one user with more than 5000 friends, closed, deleted and
  banned users, users without photos, one screen name per user;
- friends.get (count <= 5000, offset, fields), users.get, photos.get (album_id=profile, rev, photo_sizes, count),
  messages.send (recorded by random_id, de-duplicated like VK), and the subset of execute that facecat sends:
      return {"key": API.method({json params}), ...};
  with the 25-call cap (error 13), false + execute_errors for failed sub-calls, and error 13 on a size cap;
- fault injection: error 6 above the per-token rate, scripted faults per method call number (6, 9, 10, 14, 29,
  5, or an HTTP status), a per-method daily quota (29), latency for API calls and for photos;
- photo URLs on this server: real JPEGs (and one WebP, one HTML page, one placeholder PNG), some 404, some slow;
- introspection: GET /_fake/stats (requests per method, peak requests in any 1 s window, duplicate calls per
  user, duplicate downloads, messages) and GET /_fake/graph (the whole fixture, for tests to compute what to expect).
"""
import argparse
import json
import os
import random
import re
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_TESTDATA = os.path.join(HERE, "..", "..", "..", "shared", "testdata")

DEFAULTS = {
    "seed": 1,
    "root": 1,
    "root_screen_name": "fixture.root",
    "friends": 12,            # friends of the root
    "fof": 6,                 # friends per friend (about)
    "fof_pool": 0,            # size of the friends-of-friends pool; 0 = friends * fof // 2 (overlap)
    "friend_friend_share": 0.2,  # share of a friend's friends that are also friends of the root
    "big_friends": 0,         # > 0: one friend of the root has this many friends (e.g. 5200)
    "closed": 1, "deleted": 1, "banned": 1,   # among the root's friends
    "fof_closed_share": 0.1, "fof_deleted_share": 0.05,
    "no_photo_share": 0.15,   # users without any photo
    "photos_per_user": 3,     # profile photos per user with photos (1..n)
    "missing_photo_share": 0.05,  # photo URLs that answer 404
    "slow_photo_share": 0.0, "slow_photo_ms": 1500,
    "special_photos": True,   # one WebP, one HTML page, one placeholder PNG among the root's friends' photos
    "identities": True,       # the first friends get the named people of the test data (held-out photo kept back)
    "tokens": {"user-token": "user", "service-token": "service", "group-token": "group",
               "expired-token": "user_expired"},
    "token_owner": 1,         # the user a user token belongs to (sees closed friends' pages)
    "rate_limit": {"user": 3, "service": 3, "group": 20},  # error 6 above this many requests in any 1 s window
    "execute_for_service": False,
    "execute_max_items": 0,   # > 0: error 13 when an execute answer holds more user/photo items than this
    "faults": [],             # [{"method": "friends.get"|"*", "nth": [2,3], "error": 6} | {"http": 502}]
    "quota": {},              # {"photos.get": 40}: error 29 after that many calls (sub-calls count)
    "latency_ms": 0,          # added to every API call
    "photo_latency_ms": 0,    # added to every photo download
    "messages_blocked": [],   # users who did not allow community messages (901)
    "testdata": DEFAULT_TESTDATA,
}

FIRST = ["Anna", "Boris", "Vera", "Gleb", "Daria", "Egor", "Zoya", "Ivan", "Kira", "Lev", "Maria", "Nikita",
         "Olga", "Pavel", "Raisa", "Sergei", "Tanya", "Ulyana", "Fedor", "Yulia"]
LAST = ["Ivanova", "Petrov", "Smirnova", "Kuznetsov", "Popova", "Sokolov", "Lebedeva", "Kozlov", "Novikova",
        "Morozov"]
SIZE_TYPES = [("s", 75), ("m", 130), ("x", 604), ("y", 807), ("z", 1080), ("w", 2560)]


def jpeg_size(data):
    """(width, height) from a JPEG's SOF marker, or None."""
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        seglen = int.from_bytes(data[i + 2:i + 4], "big")
        if marker in (0xC0, 0xC1, 0xC2):
            return int.from_bytes(data[i + 7:i + 9], "big"), int.from_bytes(data[i + 5:i + 7], "big")
        i += 2 + seglen
    return None


class Fixture:
    def __init__(self, cfg):
        self.cfg = cfg
        rnd = random.Random(cfg["seed"])
        self.users = {}     # id -> dict(status, first, last, screen_name, photos=[photo dicts], is_closed)
        self.adj = {}       # id -> set of ids
        root = cfg["root"]
        n1 = cfg["friends"]
        friends = list(range(100, 100 + n1))
        pool_n = cfg["fof_pool"] or max(1, n1 * cfg["fof"] // 2)
        pool = list(range(100000, 100000 + pool_n))

        def add_user(uid, status="open"):
            if uid in self.users:
                return
            self.users[uid] = {"id": uid, "status": status, "first": FIRST[uid % len(FIRST)],
                               "last": LAST[(uid // len(FIRST)) % len(LAST)], "screen_name": f"id{uid}",
                               "photos": []}
            self.adj.setdefault(uid, set())

        def edge(a, b):
            if a == b:
                return
            self.adj.setdefault(a, set()).add(b)
            self.adj.setdefault(b, set()).add(a)

        add_user(root)
        self.users[root]["screen_name"] = cfg["root_screen_name"]
        for f in friends:
            add_user(f)
            edge(root, f)
        # statuses among the root's friends (never the first few, which carry identities)
        tail = friends[::-1]
        k = 0
        for status, count in (("closed", cfg["closed"]), ("deleted", cfg["deleted"]), ("banned", cfg["banned"])):
            for _ in range(count):
                if k < len(tail) - 3:
                    self.users[tail[k]]["status"] = status
                    k += 1
        for p in pool:
            r = rnd.random()
            add_user(p, "closed" if r < cfg["fof_closed_share"] else
                     "deleted" if r < cfg["fof_closed_share"] + cfg["fof_deleted_share"] else "open")
        for f in friends:
            if self.users[f]["status"] in ("deleted", "banned"):
                continue
            n = max(1, int(cfg["fof"] * rnd.uniform(0.7, 1.3)))
            for _ in range(n):
                if rnd.random() < cfg["friend_friend_share"] and n1 > 1:
                    edge(f, rnd.choice(friends))
                else:
                    edge(f, rnd.choice(pool))
        if cfg["big_friends"] > 0 and n1 > 0:
            big = friends[1] if n1 > 1 else friends[0]
            self.big_user = big
            base = 5000000
            for j in range(cfg["big_friends"]):
                uid = base + j
                add_user(uid)
                edge(big, uid)
        else:
            self.big_user = None
        # deleted users have no friends any more in VK's answers, but edges toward them exist from the others' side
        # photos
        self.photo_files = self._photo_files(cfg["testdata"])
        self.holdout = {}
        self.photo_index = {}  # "owner_pid" -> dict(file, missing, slow, kind)
        ident = self.photo_files["identities"] if cfg["identities"] else []
        generic = self.photo_files["generic"]
        ordered = [root] + friends + sorted(u for u in self.users if u not in friends and u != root)
        id_i = 0
        for uid in ordered:
            u = self.users[uid]
            if u["status"] in ("deleted", "banned"):
                continue
            if uid != root and uid in friends and id_i < len(ident):
                name, files = ident[id_i]
                id_i += 1
                u["identity"] = name
                self.holdout[uid] = files[-1]
                chosen = files[:-1][: cfg["photos_per_user"]]
            else:
                if rnd.random() < cfg["no_photo_share"]:
                    continue
                n = rnd.randint(1, cfg["photos_per_user"]) if cfg["photos_per_user"] > 0 else 0
                chosen = [generic[(uid * 7 + j) % len(generic)] for j in range(n)] if generic else []
            for j, path in enumerate(chosen):
                pid = 456239000 + uid * 10 + j
                ph = {"id": pid, "owner": uid, "file": path, "kind": "image", "date": 1600000000 + uid * 10 + j,
                      "missing": rnd.random() < cfg["missing_photo_share"],
                      "slow": rnd.random() < cfg["slow_photo_share"]}
                u["photos"].append(ph)
        if cfg["special_photos"] and len(friends) >= 6:
            specials = [("webp", self.photo_files.get("webp")), ("html", None), ("placeholder", None)]
            for i, (kind, path) in enumerate(specials):
                uid = friends[3 + i]
                if self.users[uid]["status"] != "open":
                    continue
                pid = 456239000 + uid * 10 + 9
                self.users[uid]["photos"].append({"id": pid, "owner": uid, "file": path, "kind": kind,
                                                  "date": 1700000000 + i, "missing": False, "slow": False})
        for u in self.users.values():
            u["photos"].sort(key=lambda p: p["date"])  # oldest first; rev=1 reverses
            for p in u["photos"]:
                self.photo_index[f"{p['owner']}_{p['id']}"] = p

    @staticmethod
    def _photo_files(testdata):
        faces = os.path.join(testdata, "faces")
        out = {"identities": [], "generic": [], "webp": None}
        if not os.path.isdir(faces):
            return out
        for src in ("deepface", "face_recognition"):
            d = os.path.join(faces, src)
            if not os.path.isdir(d):
                continue
            for name in sorted(os.listdir(d)):
                sub = os.path.join(d, name)
                if name.startswith("_") or not os.path.isdir(sub):
                    continue
                files = []
                for f in sorted(os.listdir(sub)):
                    p = os.path.join(sub, f)
                    with open(p, "rb") as fh:
                        head = fh.read(12)
                    if head[:3] == b"\xff\xd8\xff":
                        files.append(p)
                    elif head[:4] == b"RIFF" and head[8:12] == b"WEBP" and not out["webp"]:
                        out["webp"] = p
                if len(files) >= 2:
                    out["identities"].append((f"{src}/{name}", files))
        for src in ("face-api.js", "face-recognition.js", "dlib"):
            d = os.path.join(faces, src)
            if not os.path.isdir(d):
                continue
            for root, _, fs in sorted(os.walk(d)):
                for f in sorted(fs):
                    if f.lower().endswith((".jpg", ".jpeg")):
                        out["generic"].append(os.path.join(root, f))
        return out

    def can_see(self, uid, kind):
        """A closed page is visible to its owner's friends (user token of a friend) only."""
        owner = self.cfg["token_owner"]
        return kind == "user" and (uid == owner or uid in self.adj.get(owner, ()))

    def user_object(self, uid, fields, base_url, kind="service"):
        u = self.users[uid]
        o = {"id": uid, "first_name": u["first"], "last_name": u["last"]}
        if u["status"] in ("deleted", "banned"):
            o["first_name"] = "DELETED" if u["status"] == "deleted" else u["first"]
            o["deactivated"] = u["status"]
            o["is_closed"] = False
            o["can_access_closed"] = True
            return o
        o["is_closed"] = u["status"] == "closed"
        o["can_access_closed"] = u["status"] != "closed" or self.can_see(uid, kind)
        for f in fields:
            if f == "has_photo":
                o["has_photo"] = 1 if u["photos"] else 0
            elif f == "screen_name":
                o["screen_name"] = u["screen_name"]
            elif f in ("photo_200", "photo_max_orig", "photo_max"):
                if u["photos"]:
                    p = u["photos"][-1]
                    o[f] = f"{base_url}/photos/{uid}_{p['id']}_{'x' if f == 'photo_200' else 'w'}.jpg"
                else:
                    o[f] = "https://vk.com/images/camera_200.png?ava=1"
            elif f == "photo_id":
                if u["photos"]:
                    o["photo_id"] = f"{uid}_{u['photos'][-1]['id']}"
        return o

    def photo_object(self, p, base_url):
        w0, h0 = 1280, 960
        if p["kind"] == "image" and p["file"]:
            try:
                with open(p["file"], "rb") as fh:
                    s = jpeg_size(fh.read(65536))
                if s:
                    w0, h0 = s
            except OSError:
                pass
        sizes = []
        for t, cap in SIZE_TYPES:
            scale = min(1.0, cap / max(w0, h0))
            if t != "s" and scale >= 1.0 and sizes and sizes[-1]["width"] == w0:
                continue
            sizes.append({"type": t, "width": max(1, int(w0 * scale)), "height": max(1, int(h0 * scale)),
                          "url": f"{base_url}/photos/{p['owner']}_{p['id']}_{t}.jpg?size={t}&quality=95&type=album"})
        if p["kind"] == "placeholder":
            sizes = [{"type": "x", "width": 200, "height": 200,
                      "url": f"{base_url}/images/camera_200.png?ava=1"}]
        return {"id": p["id"], "album_id": -6, "owner_id": p["owner"], "date": p["date"], "has_tags": False,
                "sizes": sizes, "text": "", "square_crop": "", "can_comment": 0}


class ApiError(Exception):
    def __init__(self, code, msg, extra=None):
        super().__init__(msg)
        self.code, self.msg, self.extra = code, msg, extra or {}


ERROR_TEXT = {
    5: "User authorization failed: invalid access_token (4).",
    6: "Too many requests per second",
    9: "Flood control",
    10: "Internal server error",
    13: "Runtime error occurred during code invocation",
    14: "Captcha needed",
    15: "Access denied",
    17: "Validation required: please open redirect_uri in browser",
    18: "User was deleted or banned",
    27: "Group authorization failed: method is unavailable with group auth.",
    28: "Application authorization failed: method is unavailable with service token.",
    29: "Rate limit reached",
    30: "This profile is private",
    100: "One of the parameters specified was missing or invalid",
    113: "Invalid user id",
    200: "Access denied",
    901: "Can't send messages for users without permission",
}
ALLOWED = {
    "friends.get": {"user", "service"},
    "photos.get": {"user", "service"},
    "users.get": {"user", "group", "service"},
    "messages.send": {"user", "group"},
    "execute": {"user", "group"},
}
EXEC_RE = re.compile(r'"(\w+)"\s*:\s*API\.([A-Za-z]+\.[A-Za-z]+)\((\{[^{}]*\})\)')


class State:
    def __init__(self, cfg):
        self.cfg = cfg
        self.fx = Fixture(cfg)
        self.lock = threading.Lock()
        self.times = []                # (t, token, method)
        self.by_method = {}
        self.sub_by_method = {}
        self.method_calls = {}         # method -> call count (top-level, for scripted faults)
        self.quota_used = {}
        self.friends_calls = {}        # user id -> times friends.get answered it (offset 0 only)
        self.photos_calls = {}
        self.downloads = {}            # photo path -> times served with 200
        self.errors = {}
        self.messages = {}             # (peer, random_id) -> message dict
        self.message_log = []
        self.next_msg_id = 1000

    def stats(self):
        with self.lock:
            times = [t for t, _, _ in self.times]
            peak, peak_tok = _peak(times), {}
            for tok in {k for _, k, _ in self.times}:
                peak_tok[tok[:4] + "…"] = _peak([t for t, k, _ in self.times if k == tok])
            return {
                "requests": len(self.times),
                "requests_by_method": dict(self.by_method),
                "subcalls_by_method": dict(self.sub_by_method),
                "peak_rps": peak,
                "peak_rps_by_token": peak_tok,
                "friends_calls": {str(k): v for k, v in self.friends_calls.items()},
                "duplicate_friends_calls": {str(k): v for k, v in self.friends_calls.items() if v > 1},
                "photos_calls": {str(k): v for k, v in self.photos_calls.items()},
                "duplicate_photos_calls": {str(k): v for k, v in self.photos_calls.items() if v > 1},
                "downloads": sum(self.downloads.values()),
                "downloads_by_photo": dict(self.downloads),
                "duplicate_downloads": {k: v for k, v in self.downloads.items() if v > 1},
                "errors_sent": {str(k): v for k, v in self.errors.items()},
                "messages": list(self.message_log),
            }


def _peak(times):
    """The most requests in any window [t, t+1 s)."""
    times = sorted(times)
    best, j = 0, 0
    for i in range(len(times)):
        while times[i] - times[j] >= 1.0:
            j += 1
        best = max(best, i - j + 1)
    return best


def make_handler(state):
    cfg, fx = state.cfg, state.fx

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"   # keep-alive

        def log_message(self, *a):
            pass

        def base_url(self):
            return f"http://127.0.0.1:{self.server.server_address[1]}"

        def send(self, code, body, ctype="application/json; charset=utf-8"):
            if isinstance(body, (dict, list)):
                body = json.dumps(body, ensure_ascii=False).encode()
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            self.route()

        def do_POST(self):
            self.route()

        def route(self):
            url = urllib.parse.urlsplit(self.path)
            params = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
            if self.command == "POST":
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n).decode("utf-8", "replace") if n else ""
                params.update(urllib.parse.parse_qsl(body, keep_blank_values=True))
            if url.path.startswith("/method/"):
                return self.api(url.path[len("/method/"):], params)
            if url.path.startswith("/photos/"):
                return self.photo(url.path[len("/photos/"):])
            if url.path.startswith("/images/"):
                return self.send(200, b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "image/png")
            if url.path == "/_fake/stats":
                return self.send(200, state.stats())
            if url.path == "/_fake/graph":
                return self.send(200, self.graph())
            return self.send(404, b"not found", "text/plain")

        def graph(self):
            users = {}
            for uid, u in fx.users.items():
                users[str(uid)] = {"status": u["status"], "name": f"{u['first']} {u['last']}",
                                   "screen_name": u["screen_name"], "identity": u.get("identity"),
                                   "holdout": fx.holdout.get(uid),
                                   "photos": [{"id": p["id"], "kind": p["kind"], "missing": p["missing"],
                                               "file": p["file"]} for p in u["photos"]],
                                   "friends": sorted(fx.adj.get(uid, ()))}
            return {"root": cfg["root"], "big_user": fx.big_user, "token_owner": cfg["token_owner"], "users": users}

        # ---- photos --------------------------------------------------------------------------------------------
        def photo(self, name):
            m = re.match(r"(\d+)_(\d+)_(\w+)\.jpg$", name)
            p = fx.photo_index.get(f"{m.group(1)}_{m.group(2)}") if m else None
            if cfg["photo_latency_ms"]:
                time.sleep(cfg["photo_latency_ms"] / 1000)
            if not p or p["missing"]:
                return self.send(404, b"<html>404 Not Found</html>", "text/html")
            if p["slow"]:
                time.sleep(cfg["slow_photo_ms"] / 1000)
            if p["kind"] == "html":
                data, ctype = b"<html><body>Please log in</body></html>", "text/html"
            elif p["kind"] == "placeholder":
                data, ctype = b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "image/png"
            else:
                with open(p["file"], "rb") as fh:
                    data = fh.read()
                ctype = "image/jpeg"
            with state.lock:
                key = f"{p['owner']}_{p['id']}"
                state.downloads[key] = state.downloads.get(key, 0) + 1
            return self.send(200, data, ctype)

        # ---- API -------------------------------------------------------------------------------------------------
        def api(self, method, params):
            token = params.get("access_token", "")
            auth = self.headers.get("Authorization", "")
            if not token and auth.lower().startswith("bearer "):
                token = auth[7:].strip()
            now = time.monotonic()
            with state.lock:
                state.times.append((now, token, method))
                state.by_method[method] = state.by_method.get(method, 0) + 1
                state.method_calls[method] = state.method_calls.get(method, 0) + 1
                nth = state.method_calls[method]
                kind = cfg["tokens"].get(token)
                recent = sum(1 for t, k, _ in state.times if k == token and now - t < 1.0)
            if cfg["latency_ms"]:
                time.sleep(cfg["latency_ms"] / 1000)
            try:
                for f in cfg["faults"]:
                    if f.get("method", "*") in ("*", method) and nth in f.get("nth", []):
                        if "http" in f:
                            return self.send(int(f["http"]), b"<html>Bad Gateway</html>", "text/html")
                        raise ApiError(int(f["error"]), ERROR_TEXT.get(int(f["error"]), "error"))
                if not token:
                    raise ApiError(5, "User authorization failed: no access_token passed.")
                if kind is None:
                    raise ApiError(5, "User authorization failed: invalid access_token (4).")
                if kind == "user_expired":
                    raise ApiError(5, "User authorization failed: access_token has expired.")
                limit = cfg["rate_limit"].get(kind, 3)
                if recent > limit:
                    raise ApiError(6, "Too many requests per second")
                if params.get("v", "") == "":
                    raise ApiError(8, "Invalid request: v (version) is required")
                self.check_token(method, kind)
                if method == "execute":
                    body = self.execute(params, kind)
                else:
                    body = {"response": self.call(method, params, kind)}
                return self.send(200, body)
            except ApiError as e:
                err = {"error_code": e.code, "error_msg": e.msg, "inner_type": "base_error",
                       "request_params": [{"key": k, "value": v} for k, v in sorted(params.items())
                                          if k not in ("access_token", "code")] + [{"key": "method", "value": method}]}
                err.update(e.extra)
                if e.code == 14:
                    err.update({"captcha_sid": "123456789", "captcha_img": self.base_url() + "/captcha.php?sid=1",
                                "redirect_uri": "https://id.vk.com/not_robot_captcha?sid=1"})
                with state.lock:
                    state.errors[e.code] = state.errors.get(e.code, 0) + 1
                return self.send(200, {"error": err})

        def check_token(self, method, kind):
            allowed = set(ALLOWED.get(method, {"user", "service", "group"}))
            if method == "execute" and cfg["execute_for_service"]:
                allowed.add("service")
            if kind not in allowed:
                if kind == "group":
                    raise ApiError(27, ERROR_TEXT[27])
                if kind == "service":
                    raise ApiError(28, ERROR_TEXT[28])
                raise ApiError(15, "Access denied: no access to call this method")

        def count_quota(self, method):
            q = cfg["quota"].get(method)
            with state.lock:
                used = state.quota_used.get(method, 0)
                if q is not None and used >= q:
                    return False
                state.quota_used[method] = used + 1
            return True

        def call(self, method, params, kind, sub=False):
            if not self.count_quota(method):
                raise ApiError(29, ERROR_TEXT[29])
            if sub:
                with state.lock:
                    state.sub_by_method[method] = state.sub_by_method.get(method, 0) + 1
            base = self.base_url()
            if method == "users.get":
                ids = [x for x in params.get("user_ids", "").split(",") if x] or [str(cfg["token_owner"])]
                if len(ids) > 1000:
                    raise ApiError(100, ERROR_TEXT[100])
                fields = [f for f in params.get("fields", "").split(",") if f]
                out = []
                for x in ids:
                    uid = int(x) if x.isdigit() else next((u for u, d in fx.users.items()
                                                          if d["screen_name"] == x), None)
                    if uid in fx.users:
                        out.append(fx.user_object(uid, fields, base, kind))
                if not out:
                    raise ApiError(113, ERROR_TEXT[113])
                return out
            if method == "friends.get":
                uid = int(params.get("user_id") or cfg["token_owner"])
                if uid not in fx.users:
                    raise ApiError(113, ERROR_TEXT[113])
                u = fx.users[uid]
                if u["status"] in ("deleted", "banned"):
                    raise ApiError(18, ERROR_TEXT[18])
                if u["status"] == "closed" and not fx.can_see(uid, kind):
                    raise ApiError(30, ERROR_TEXT[30])
                count = int(params.get("count") or 5000)
                offset = int(params.get("offset") or 0)
                if count > 5000:
                    count = 5000
                if offset == 0:
                    with state.lock:
                        state.friends_calls[uid] = state.friends_calls.get(uid, 0) + 1
                ids = sorted(fx.adj.get(uid, ()))
                page = ids[offset:offset + count]
                fields = [f for f in params.get("fields", "").split(",") if f]
                items = [fx.user_object(i, fields, base, kind) for i in page] if fields else page
                return {"count": len(ids), "items": items}
            if method == "photos.get":
                owner = int(params.get("owner_id") or cfg["token_owner"])
                if owner not in fx.users:
                    raise ApiError(113, ERROR_TEXT[113])
                if params.get("album_id") not in ("profile", "-6"):
                    raise ApiError(100, ERROR_TEXT[100] + ": album_id")
                u = fx.users[owner]
                if u["status"] in ("deleted", "banned"):
                    raise ApiError(18, ERROR_TEXT[18])
                if u["status"] == "closed" and not fx.can_see(owner, kind):
                    raise ApiError(30, ERROR_TEXT[30])
                with state.lock:
                    state.photos_calls[owner] = state.photos_calls.get(owner, 0) + 1
                photos = list(u["photos"])
                if str(params.get("rev", "0")) == "1":
                    photos.reverse()
                count = min(int(params.get("count") or 50), 1000)
                offset = int(params.get("offset") or 0)
                return {"count": len(photos),
                        "items": [fx.photo_object(p, base) for p in photos[offset:offset + count]]}
            if method == "messages.send":
                peer = params.get("user_id") or params.get("peer_id")
                if not peer or "random_id" not in params:
                    raise ApiError(100, ERROR_TEXT[100] + ": random_id is a required parameter")
                try:
                    rid = int(params["random_id"])
                except ValueError:
                    raise ApiError(100, ERROR_TEXT[100] + ": random_id not integer")
                msg = params.get("message", "")
                if len(msg) > 9000:
                    raise ApiError(914, "Message is too long")
                if int(peer) in cfg["messages_blocked"]:
                    raise ApiError(901, ERROR_TEXT[901])
                with state.lock:
                    key = (peer, rid)
                    if key in state.messages:
                        return state.messages[key]["id"]
                    state.next_msg_id += 1
                    state.messages[key] = {"id": state.next_msg_id}
                    state.message_log.append({"id": state.next_msg_id, "peer": int(peer), "random_id": rid,
                                              "message": msg})
                    return state.next_msg_id
            raise ApiError(3, "Unknown method passed")

        def execute(self, params, kind):
            code = params.get("code", "").strip()
            m = re.fullmatch(r"return\s*\{(.*)\}\s*;?", code, re.S)
            if not m:
                raise ApiError(12, "Unable to compile code: facecat's fake only knows 'return {\"k\": API.m({...}), ...};'")
            calls = EXEC_RE.findall(m.group(1))
            if len(calls) > 25:
                raise ApiError(13, ERROR_TEXT[13] + ": too many API calls")
            result, errors, items = {}, [], 0
            for key, method, ptext in calls:
                try:
                    p = {k: str(v) for k, v in json.loads(ptext).items()}
                except json.JSONDecodeError:
                    raise ApiError(12, "Unable to compile code")
                try:
                    self.check_token(method, kind)
                    r = self.call(method, p, kind, sub=True)
                    result[key] = r
                    if isinstance(r, dict):
                        items += len(r.get("items", []))
                except ApiError as e:
                    if e.code == 29:
                        raise
                    result[key] = False
                    errors.append({"method": method, "error_code": e.code, "error_msg": e.msg})
            if cfg["execute_max_items"] and items > cfg["execute_max_items"]:
                raise ApiError(13, ERROR_TEXT[13] + ": response size is too big")
            body = {"response": result}
            if errors:
                body["execute_errors"] = errors
            return body

    return Handler


def load_config(args):
    cfg = json.loads(json.dumps(DEFAULTS))
    if args.config:
        with open(args.config) as fh:
            cfg.update(json.load(fh))
    for kv in args.set or []:
        k, _, v = kv.partition("=")
        cfg[k] = json.loads(v)
    return cfg


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--config", help="scenario JSON (keys as in DEFAULTS)")
    ap.add_argument("--set", action="append", help="key=JSON value, e.g. --set friends=300")
    args = ap.parse_args()
    state = State(load_config(args))
    srv = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(state))
    srv.daemon_threads = True
    print(f"PORT {srv.server_address[1]}", flush=True)
    try:
        srv.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
