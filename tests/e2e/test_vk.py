"""facecat-vk against the fake VK server: everyone crawled once, politely (<= 3 requests in any second at the
default rate), resumably (SIGKILL then re-run: no duplicates, no repeated downloads), VK's error table (captcha and
expired token stop with exit 4 and a message; error 6 bursts and 5xx are survived; deleted and closed users are
recorded), the token never on argv/stdout/stderr, suggest and notify."""
import os
import signal
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "fakevk"))
from facecat_test import (TESTDATA, TempDir, check, check_eq, check_locale, clean_env, finish,  # noqa: E402
                          need_testdata, run, tool)
from fake import FakeVK, expected_crawl  # noqa: E402

check_locale()
need_testdata("faces")
FAST = {"user": 1000, "service": 1000, "group": 1000}
TOKEN = "user-token"


def env_for(fake, token=TOKEN, rps="50", extra=None):
    e = {"VKAPPS_TOKEN": token, "FACECAT_VK_API_BASE": fake.api_base, "FACECAT_VK_RPS": rps,
         "FACECAT_VK_RETRY_BASE_MS": "40"}
    e.update(extra or {})
    return e


def fetch(fake, tmp, *args, token=TOKEN, rps="50", extra=None):
    cmd = ["facecat-vk", "fetch", "--catalog", os.path.join(tmp, "cat.db"), "--out", os.path.join(tmp, "photos")]
    return run(cmd + list(args), os.path.join(tmp, "home"), env=env_for(fake, token, rps, extra), timeout=300)


def db(tmp):
    return sqlite3.connect(os.path.join(tmp, "cat.db"))


def no_token_leak(r, token, what):
    blob = r.stdout + r.stderr
    check(token.encode() not in blob, f"{what}: the token appears neither on stdout nor on stderr")


def catalog_invariants(tmp, what):
    c = db(tmp)
    dup_people = c.execute("SELECT count(*) FROM (SELECT person_id FROM person_sources GROUP BY person_id "
                           "HAVING count(*) > 1)").fetchone()[0]
    orphans = c.execute("SELECT count(*) FROM people WHERE id NOT IN (SELECT person_id FROM person_sources)").fetchone()[0]
    dup_files = c.execute("SELECT count(*) FROM (SELECT hash FROM files WHERE origin='vk' GROUP BY source_person_id, "
                          "hash HAVING count(*) > 1)").fetchone()[0]
    check_eq((dup_people, orphans, dup_files), (0, 0, 0), f"{what}: no duplicate people, orphans or files")
    rows = {bytes(p).decode() for (p,) in c.execute("SELECT path FROM files WHERE origin='vk'")}
    photos = os.path.join(tmp, "photos")
    on_disk = {os.path.join(photos, f) for f in os.listdir(photos) if f != ".facecat-folder"} \
        if os.path.isdir(photos) else set()
    check_eq(on_disk, rows, f"{what}: the photo folder holds exactly the registered files (no temp files)")
    ok = c.execute("SELECT count(*) FROM vk_photos WHERE status='ok' AND file_id IS NOT NULL").fetchone()[0]
    check_eq(ok, len(rows), f"{what}: every downloaded photo row points at its file")
    c.close()


# ---- 1. everyone crawled once, depth 2, execute batches; re-run is free -----------------------------------------
with TempDir() as tmp, FakeVK(testdata=TESTDATA, friends=14, fof=8, rate_limit=FAST) as fake:
    g = fake.graph()
    want, readable = expected_crawl(g, 2, "user")
    r = fetch(fake, tmp, "--user", "fixture.root", "--depth", "2", "--photos", "2")
    check_eq(r.rc, 1, "fetch: exit 1 (the fixture has 404 photos and an HTML page among the photos)")
    no_token_leak(r, TOKEN, "fetch")
    c = db(tmp)
    got = {x for (x,) in c.execute("SELECT external_id FROM person_sources WHERE source='vk'")}
    check_eq(got, want, "every friend and friend of a friend is in the catalog once")
    st = fake.stats()
    check_eq(st["duplicate_friends_calls"], {}, "no friend list fetched twice")
    check_eq(st["duplicate_photos_calls"], {}, "no photo list fetched twice")
    check_eq(st["duplicate_downloads"], {}, "no photo downloaded twice")
    check(st["requests_by_method"].get("execute", 0) > 0, "execute batches are used with a user token")
    fetched = set(st["friends_calls"])
    want_lists = {u for u in want if readable(u) and (u == str(g["root"]) or int(u) in g["users"][str(g["root"])]["friends"])}
    check_eq(fetched, want_lists, "friend lists fetched: the root and its readable friends, nobody else")
    # statuses recorded
    status = dict(c.execute("SELECT external_id, status FROM person_sources"))
    for uid, u in g["users"].items():
        if uid in want and u["status"] in ("deleted", "banned", "closed"):
            check_eq(status.get(uid), u["status"], f"person {uid} recorded as {u['status']}")
            break
    check(set(status.values()) >= {"open", "closed", "deleted", "banned"}, "open, closed, deleted and banned recorded")
    edges = {(a, b) for a, b in c.execute("SELECT a, b FROM friendships")}
    check(all(a < b for a, b in edges), "friendship edges stored once with a < b")
    root_edges = {b if a == str(g["root"]) else a for a, b in edges if str(g["root"]) in (a, b)}
    check_eq(root_edges, {str(f) for f in g["users"][str(g["root"])]["friends"]}, "the root's friendships")
    files = c.execute("SELECT count(*), count(DISTINCT source_person_id) FROM files WHERE origin='vk' "
                      "AND source_person_id IS NOT NULL AND hash IS NOT NULL AND kind='image'").fetchone()
    check(files[0] > 10, f"photos registered as files with their person ({files})")
    html = {f"{u}_{p['id']}" for u, d in g["users"].items() for p in d["photos"] if p["kind"] == "html"}
    image_downloads = sum(n for k, n in st["downloads_by_photo"].items() if k not in html)
    check_eq(files[0], image_downloads, "every image downloaded is registered once")
    rej = dict(c.execute("SELECT error, count(*) FROM vk_photos WHERE status='rejected' GROUP BY error"))
    check("placeholder avatar" in rej, f"placeholder avatar skipped ({rej})")
    check(any(k and k.startswith("not an image") for k in rej), "an HTML page served as a photo is rejected")
    check(c.execute("SELECT count(*) FROM files WHERE format='webp'").fetchone()[0] == 1,
          "a WebP photo is sniffed as WebP")
    c.close()
    events = r.jsonl()
    check(all(e["event"] in ("vk_person", "user", "photo", "error", "summary") for e in events), "known event kinds")
    check_eq(len([e for e in events if e["event"] == "photo"]), image_downloads, "one photo event per image")
    catalog_invariants(tmp, "after a full crawl")
    before = st["requests"]
    r2 = fetch(fake, tmp, "--user", "fixture.root", "--depth", "2", "--photos", "2")
    st2 = fake.stats()
    check_eq(st2["requests"] - before, 1, "a re-run within --max-age makes one call (users.get) and no others")
    check_eq(st2["downloads"], st["downloads"], "a re-run downloads nothing")
    check_eq(r2.jsonl()[-1]["fresh_friend_list_count"], len(g["users"][str(g["root"])]["friends"]) + 1,
             "a re-run reports every list (read, private or deleted) as fresh")
    # suggest: friends of friends ranked by mutual friends (computed here from the fixture)
    rs = run(["facecat-vk", "suggest", "--user", str(g["root"]), "--limit", "0", "--catalog",
              os.path.join(tmp, "cat.db")], os.path.join(tmp, "home"))
    check_eq(rs.rc, 0, "suggest: exit 0")
    sug = rs.events("suggestion")
    friends = {str(f) for f in g["users"][str(g["root"])]["friends"]}
    lists = {f for f in friends if f in want_lists}
    mutual = {}
    for f in lists:
        for n in g["users"][f]["friends"]:
            n = str(n)
            if n != str(g["root"]) and n not in friends:
                mutual[n] = mutual.get(n, 0) + 1
    mutual = {n: m for n, m in mutual.items() if g["users"][n]["status"] not in ("deleted", "banned")}
    check_eq({s["vk_id"]: s["mutual_friend_count"] for s in sug}, mutual, "suggest: every friend of a friend with its "
                                                                    "mutual-friend count")
    counts = [s["mutual_friend_count"] for s in sug]
    check(counts == sorted(counts, reverse=True) and len(set(counts)) > 1, f"suggest: ranked by mutual friends {counts[:10]}")

# ---- 2. politeness at the real default rate (3/s), no execute ------------------------------------------------------
with TempDir() as tmp, FakeVK(testdata=TESTDATA, friends=12, fof=2) as fake:
    env = env_for(fake)
    del env["FACECAT_VK_RPS"]  # the built-in default
    r = run(["facecat-vk", "fetch", "--user", "1", "--photos", "1", "--no-execute", "--catalog",
             os.path.join(tmp, "cat.db"), "--out", os.path.join(tmp, "photos")], os.path.join(tmp, "home"), env=env)
    st = fake.stats()
    check(st["requests"] >= 10, f"politeness run made enough requests to measure ({st['requests']})")
    check(st["peak_rps"] <= 3, f"peak requests in any 1 s window <= 3 (got {st['peak_rps']})")
    check_eq(st["errors_sent"].get("6"), None, "no error 6 at the default rate")

# ---- 3. SIGKILL mid-crawl, then a re-run: no duplicates, nothing downloaded twice ---------------------------------
with TempDir() as tmp, FakeVK(testdata=TESTDATA, friends=14, fof=6, rate_limit=FAST, photo_latency_ms=60,
                               latency_ms=30) as fake:
    g = fake.graph()
    want, _ = expected_crawl(g, 2, "user")
    cmd = [tool("facecat-vk"), "fetch", "--user", "1", "--depth", "2", "--photos", "3", "--no-execute", "--catalog",
           os.path.join(tmp, "cat.db"), "--out", os.path.join(tmp, "photos")]
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         env=clean_env(os.path.join(tmp, "home"), env_for(fake, rps="20")))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and fake.stats()["downloads"] < 8 and p.poll() is None:
        time.sleep(0.05)
    killed = p.poll() is None
    if killed:
        p.send_signal(signal.SIGKILL)
    p.wait()
    check(killed, "the crawl was killed while downloading")
    mid = fake.stats()
    r = fetch(fake, tmp, "--user", "1", "--depth", "2", "--photos", "3", "--no-execute", rps="20")
    check(r.rc in (0, 1), f"re-run after SIGKILL finishes (exit {r.rc})")
    st = fake.stats()
    c = db(tmp)
    got = {x for (x,) in c.execute("SELECT external_id FROM person_sources")}
    check_eq(got, want, "after SIGKILL + re-run: everyone once")
    c.close()
    catalog_invariants(tmp, "after SIGKILL + re-run")
    dups = st["duplicate_downloads"]
    # Only photos that were in flight at the kill may come twice; the concurrency bounds them.
    check(len(dups) <= 8, f"at most the in-flight downloads repeated after SIGKILL ({len(dups)})")
    check(len(st["duplicate_friends_calls"]) <= 1, f"at most the in-flight friend list repeated "
                                                   f"({st['duplicate_friends_calls']})")

# ---- 4. errors --------------------------------------------------------------------------------------------------
with TempDir() as tmp, FakeVK(testdata=TESTDATA, friends=8, rate_limit=FAST,
                               faults=[{"method": "friends.get", "nth": [1], "error": 14}]) as fake:
    r = fetch(fake, tmp, "--user", "1", "--photos", "0")
    check_eq(r.rc, 4, "captcha: exit 4")
    check(b"captcha" in r.stderr and b"run the same command again" in r.stderr, f"captcha: says what to do ({r.stderr[-300:]!r})")

with TempDir() as tmp, FakeVK(testdata=TESTDATA, friends=8, rate_limit=FAST) as fake:
    r = fetch(fake, tmp, "--user", "1", "--photos", "0", token="expired-token")
    check_eq(r.rc, 4, "expired token: exit 4")
    check(b"VKAPPS_TOKEN" in r.stderr and b"error 5" in r.stderr, f"expired token: names the token ({r.stderr[-300:]!r})")
    no_token_leak(r, "expired-token", "expired token")
    r = fetch(fake, tmp, "--user", "1", "--photos", "0", token="")
    check_eq(r.rc, 2, "no token: exit 2")
    # config.ini readable by others with a token: refused
    cfg = os.path.join(tmp, "config.ini")
    with open(cfg, "w") as fh:
        fh.write("[vk]\ntoken = user-token\n")
    os.chmod(cfg, 0o644)
    r = run(["facecat-vk", "--config", cfg, "fetch", "--user", "1", "--catalog", os.path.join(tmp, "cat.db")],
            os.path.join(tmp, "home"), env={"FACECAT_VK_API_BASE": fake.api_base})
    check(r.rc == 2 and b"chmod 600" in r.stderr, "a token in a config.ini readable by others is refused")
    os.chmod(cfg, 0o600)
    r = run(["facecat-vk", "--config", cfg, "fetch", "--user", "1", "--photos", "0", "--catalog",
             os.path.join(tmp, "cat.db")], os.path.join(tmp, "home"),
            env={"FACECAT_VK_API_BASE": fake.api_base, "FACECAT_VK_RPS": "50"})
    check_eq(r.rc, 0, "the token from a private config.ini works")

with TempDir() as tmp, FakeVK(testdata=TESTDATA, friends=10, fof=4, rate_limit=FAST,
                               faults=[{"method": "friends.get", "nth": [2, 3, 4], "error": 6},
                                       {"method": "friends.get", "nth": [5, 6], "http": 502},
                                       {"method": "users.get", "nth": [1], "error": 10}]) as fake:
    g = fake.graph()
    want, _ = expected_crawl(g, 2, "service")
    r = fetch(fake, tmp, "--user", "1", "--depth", "2", "--photos", "0", token="service-token")
    check_eq(r.rc, 0, "error 6 bursts, HTTP 502 and error 10 are retried: exit 0")
    c = db(tmp)
    got = {x for (x,) in c.execute("SELECT external_id FROM person_sources")}
    check_eq(got, want, "a service token (execute refused: one friends.get per friend) reaches everyone")
    st = fake.stats()
    check(st["errors_sent"].get("28", 0) == 1, "execute tried once, refused with 28, not again")
    c.close()

with TempDir() as tmp, FakeVK(testdata=TESTDATA, friends=10, rate_limit=FAST, quota={"photos.get": 4}) as fake:
    r = fetch(fake, tmp, "--user", "1", "--photos", "1", "--no-execute")
    check_eq(r.rc, 4, "a daily quota (29): exit 4")
    check(any(e["event"] == "stopped" and e["method"] == "photos.get" for e in r.jsonl()), "a 'stopped' event")
    stopped_at = len(fake.stats()["photos_calls"])
    check(stopped_at <= 4, f"photos.get not called after the quota ({stopped_at} owners)")

# ---- 5. notify ------------------------------------------------------------------------------------------------------
with TempDir() as tmp, FakeVK(testdata=TESTDATA, friends=4, rate_limit=FAST, messages_blocked=[7]) as fake:
    env = {"VK_COMMUNITY_TOKEN": "group-token", "FACECAT_VK_API_BASE": fake.api_base}
    home = os.path.join(tmp, "home")
    d = run(["facecat-vk", "notify", "--user", "5", "--text", "Привет", "--dry-run"], home, env=env)
    check_eq(d.rc, 0, "notify --dry-run: exit 0")
    rid = d.jsonl()[0]["random_id"]
    check_eq(fake.stats()["messages"], [], "a dry run sends nothing")
    for i in range(2):
        s = run(["facecat-vk", "notify", "--user", "5", "--text", "Привет"], home, env=env)
        check_eq(s.rc, 0, f"notify #{i + 1}: exit 0")
        no_token_leak(s, "group-token", "notify")
    msgs = fake.stats()["messages"]
    check_eq(len(msgs), 1, "sending twice delivers once (random_id from the content)")
    check_eq(msgs[0]["random_id"], rid, "the dry run shows the random_id that is sent")
    check_eq(msgs[0]["message"], "Привет", "the message text arrives intact")
    match = os.path.join(tmp, "match.jsonl")
    with open(match, "w") as fh:
        fh.write('{"name": "Anna Ivanova", "vk_id": "101", "distance": 0.41, "path": "/x/party.jpg"}\n')
    s = run(["facecat-vk", "notify", "--user", "5", "--from-match", match], home, env=env)
    check_eq(s.rc, 0, "notify --from-match: exit 0")
    check("https://vk.com/id101" in fake.stats()["messages"][-1]["message"], "the match is in the message")
    b = run(["facecat-vk", "notify", "--user", "7", "--text", "hi"], home, env=env)
    check(b.rc == 4 and b"901" in b.stderr, "a user who did not allow messages: exit 4 naming error 901")
finish()
