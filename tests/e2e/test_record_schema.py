"""One record vocabulary (issue 13): every line that every one of the eleven tools prints on stdout is a JSON object
with an "event", and validates against docs/schema/<kind>.schema.json for that event (an unknown event or a line
without one fails). The tools run on real files: face_recognition's photos, a test video, the fake VK server and
an empty digikam4.db. Also: on a pseudo-terminal facecat-detect prints a table without base64 descriptors, and
--format jsonl there prints JSON Lines (descriptors included, since they were asked for)."""
import glob
import json
import os
import pty
import select
import shutil
import sqlite3
import subprocess
import sys
import struct
import time
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
try:
    import jsonschema
except ImportError:  # pyenv's python3 runs CTest; Debian's has python3-jsonschema (scripts/setup installs it)
    if os.path.exists("/usr/bin/python3") and os.path.realpath(sys.executable) != os.path.realpath("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    print("SKIPPED: python3-jsonschema is not installed (scripts/setup installs it)")
    sys.exit(125)

sys.path.insert(0, os.path.join(HERE, "..", "fakevk"))
from detect_fixture import make_tree  # noqa: E402
from facecat_test import (TESTDATA, TempDir, check, check_eq, check_locale, clean_env, finish,  # noqa: E402
                          need_testdata, run, tool)
from fake import FakeVK  # noqa: E402

check_locale()
need_testdata("faces", "face_recognition")
SCHEMA_DIR = os.path.join(HERE, "..", "..", "docs", "schema")

# event -> validator, from each schema's "event" const/enum
VALIDATORS = {}
for f in sorted(glob.glob(os.path.join(SCHEMA_DIR, "*.schema.json"))):
    with open(f) as fh:
        schema = json.load(fh)
    jsonschema.Draft202012Validator.check_schema(schema)
    ev = schema["properties"]["event"]
    for e in ([ev["const"]] if "const" in ev else ev["enum"]):
        check(e not in VALIDATORS, f"event {e} has one schema ({os.path.basename(f)})")
        VALIDATORS[e] = (os.path.basename(f), jsonschema.Draft202012Validator(schema))

SEEN = {}  # event -> set of tools


def validate(r, what):
    """Every stdout line of r against its schema; returns the records."""
    recs = []
    for n, line in enumerate(r.stdout.decode("utf-8").splitlines(), 1):
        try:
            rec = json.loads(line)
        except ValueError:
            check(False, f"{what}: line {n} is not JSON: {line[:120]!r}")
            continue
        if not isinstance(rec, dict) or not isinstance(rec.get("event"), str):
            check(False, f"{what}: line {n} has no event: {line[:160]}")
            continue
        ev = rec["event"]
        if ev not in VALIDATORS:
            check(False, f"{what}: line {n}: unknown event {ev!r}: {line[:160]}")
            continue
        name, v = VALIDATORS[ev]
        errs = sorted(v.iter_errors(rec), key=lambda e: list(e.path))
        check(not errs, f"{what}: line {n} ({ev}) against {name}: " +
              "; ".join(f"{'/'.join(map(str, e.path))}: {e.message[:200]}" for e in errs[:3]))
        SEEN.setdefault(ev, set()).add(what.split()[0])
        recs.append(rec)
    return recs


def tool_run(args, home, what=None, rc=(0,), **kw):
    r = run(args, home, **kw)
    label = what or " ".join(a if "/" not in a else os.path.basename(a) for a in args[:3])
    check(r.rc in rc, f"{label}: exit {r.rc} ({r.stderr.decode('utf-8', 'replace')[-400:]!r})")
    return r, validate(r, label)


def on_pty(args, home, env=None, timeout=300):
    """stdout and stderr on a pseudo-terminal, as a person sees them; returns what was printed."""
    master, slave = pty.openpty()
    p = subprocess.Popen([tool(args[0])] + args[1:], stdin=subprocess.DEVNULL, stdout=slave, stderr=slave,
                         env=clean_env(home, dict(env or {}, TERM="xterm")), cwd=home)
    os.close(slave)
    out = b""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        r, _, _ = select.select([master], [], [], 1.0)
        if r:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
        elif p.poll() is not None:
            break
    p.wait(timeout=60)
    os.close(master)
    return p.returncode, out.decode("utf-8", "replace").replace("\r\n", "\n")


with TempDir() as tmp:
    home = os.path.join(tmp, "home")
    photos = os.path.join(tmp, "photos")
    files = make_tree(photos, [("obama", "obama_small.jpg"), ("_groups_unlabeled", "two_people.jpg"),
                               ("biden", "biden.jpg"), ("kit_harington", "john2.jpeg")])
    broken = os.path.join(photos, "broken.jpg")
    with open(files[0], "rb") as src, open(broken, "wb") as dst:
        dst.write(src.read()[:3000])
    cat = os.path.join(tmp, "cat.db")
    env = {"FACECAT_CATALOG": cat, "FACECAT_CROPPED_FACES_PATH": os.path.join(tmp, "crops"),
           "FACECAT_MIN_FACE": "90", "FACECAT_DETECT_THREADS": "2"}

    # ---- facecat-scan ------------------------------------------------------------------------------------------
    r, recs = tool_run(["facecat-scan", photos], home, env=env, rc=(1,))
    check({"new", "error"} <= {x["event"] for x in recs}, "scan: new and error records")
    tool_run(["facecat-scan", photos, "--all"], home, "facecat-scan --all", env=env, rc=(1,))
    os.remove(broken)
    tool_run(["facecat-scan", photos], home, "facecat-scan (missing)", env=env)

    # ---- facecat-detect ----------------------------------------------------------------------------------------
    r, recs = tool_run(["facecat-detect"], home, "facecat-detect catalog", env=env)
    check_eq(recs[0]["event"] if recs else None, "pipeline", "detect: the pipeline record comes first, once")
    check(sum(1 for x in recs if x["event"] == "pipeline") == 1 and sum(1 for x in recs if x["event"] == "face") >= 4,
          "detect: one pipeline record, then face records")
    work = os.path.join(tmp, "work")
    os.makedirs(work)
    with open(os.path.join(work, "bad.jpg"), "wb") as fh:
        fh.write(b"\xff\xd8\xff\xe0 not a jpeg")
    r, recs = tool_run(["facecat-detect", "--no-crops", "--landmarks", files[1], os.path.join(work, "bad.jpg")], home,
                       "facecat-detect PATH", env=env, rc=(1,))
    check({"face", "error"} <= {x["event"] for x in recs}, "detect PATH: face and error records")
    worker_out = r.stdout

    # ---- facecat-catalog ---------------------------------------------------------------------------------------
    tool_run(["facecat-catalog", "stats"], home, env=env)
    tool_run(["facecat-catalog", "check"], home, env=env)
    tool_run(["facecat-catalog", "migrate"], home, env=env)
    tool_run(["facecat-catalog", "models", "list"], home, env=env)
    tool_run(["facecat-catalog", "pipeline", "list"], home, env=env)
    tool_run(["facecat-catalog", "pipeline", "show"], home, env=env)
    tool_run(["facecat-catalog", "pipeline", "set", "probe", "min_face=100"], home, env=env)
    tool_run(["facecat-catalog", "pending", "detect", "--pipeline", "probe"], home, env=env)
    ingest_in = os.path.join(tmp, "worker.jsonl")
    with open(ingest_in, "wb") as fh:
        fh.write(worker_out + b"not json\n")
    cat2 = os.path.join(tmp, "cat2.db")
    tool_run(["facecat-catalog", "--catalog", cat2, "ingest", ingest_in], home, "facecat-catalog ingest", rc=(1,))
    cat3 = os.path.join(tmp, "cat3.db")
    tool_run(["facecat-catalog", "--catalog", cat3, "merge", cat2, os.path.join(tmp, "nothing.db")], home,
             "facecat-catalog merge", rc=(1,))
    tool_run(["facecat-catalog", "forget", files[0]], home, "facecat-catalog forget", env=env, rc=(1,))

    # ---- facecat-cluster, facecat-people -----------------------------------------------------------------------
    tool_run(["facecat-cluster", "--set", "clustering.min_size=1"], home, env=env)
    r, people = tool_run(["facecat-people", "list"], home, env=env)
    db = sqlite3.connect(cat)
    faces = [fid for (fid,) in db.execute("SELECT id FROM faces ORDER BY id")]
    db.close()
    check(len(faces) >= 5, f"faces to work with ({len(faces)})")
    if people and people[0].get("cluster_ids"):
        tool_run(["facecat-people", "name", f"c{people[0]['cluster_ids'][0]}", "Cluster Person"], home, env=env)
    tool_run(["facecat-people", "name", f"f{faces[0]}", "Barack"], home, env=env)
    tool_run(["facecat-people", "name", f"f{faces[1]}", "Joe"], home, env=env)
    tool_run(["facecat-people", "confirm", "Barack"], home, env=env)
    tool_run(["facecat-people", "confirm", f"f{faces[1]}"], home, env=env)
    tool_run(["facecat-people", "split", f"f{faces[2]}", f"f{faces[3]}", "--name", "Split"], home, env=env)
    tool_run(["facecat-people", "reject", f"f{faces[2]}"], home, env=env)
    tool_run(["facecat-people", "forget", "Split"], home, env=env)
    tool_run(["facecat-people", "merge", "Barack", "Joe"], home, env=env)
    tool_run(["facecat-people", "not-a-face", f"f{faces[4]}"], home, env=env)
    tool_run(["facecat-people", "list"], home, "facecat-people list (after)", env=env)
    tool_run(["facecat-people", "show", "Barack"], home, env=env)
    tool_run(["facecat-people", "in", files[1], os.path.join(tmp, "not-a-photo.jpg")], home, env=env, rc=(1,))
    tool_run(["facecat-people", "erase", "Barack", "--dry-run"], home, env=env)

    # ---- facecat-match -----------------------------------------------------------------------------------------
    r, recs = tool_run(["facecat-match", files[1], files[0]], home, env=env)
    check(recs and all(x["event"] == "match" for x in recs), "match: match records")
    blank_png = os.path.join(tmp, "blank.png")  # 64x64 white: no face
    rows = b"".join(b"\x00" + b"\xff" * 3 * 64 for _ in range(64))

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    with open(blank_png, "wb") as fh:
        fh.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 64, 64, 8, 2, 0, 0, 0)) +
                 chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
    tool_run(["facecat-match", blank_png, os.path.join(tmp, "no-such.jpg")], home, "facecat-match (no face)", env=env,
             rc=(1,))
    known = os.path.join(tmp, "known")
    os.makedirs(known)
    shutil.copyfile(files[0], os.path.join(known, "obama.jpg"))
    tool_run(["facecat-match", "--known", known, files[1], blank_png], home, "facecat-match --known", env=env)

    # ---- facecat-report, facecat-review ------------------------------------------------------------------------
    tool_run(["facecat-report", "--out", os.path.join(tmp, "report"), "--target", files[0]], home, env=env)
    srv = subprocess.Popen([tool("facecat-review"), "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=clean_env(home, env), cwd=home)
    try:
        line = srv.stdout.readline()
    finally:
        # The serving line comes once the server listens, so SIGTERM right after it must stop it (this once hung:
        # httplib's stop() before listen began was lost). 120 s only bounds a hang; a stop takes milliseconds.
        srv.terminate()
        try:
            srv.wait(timeout=120)
        except subprocess.TimeoutExpired:
            srv.kill()
            srv.wait()
            check(False, "review: stops on SIGTERM sent right after its serving line")

    class _R:
        rc, stdout, stderr = 0, line, b""
    validate(_R, "facecat-review")
    check(b'"serving"' in line, f"review: the serving record ({line[:200]!r})")

    # ---- facecat-digikam ---------------------------------------------------------------------------------------
    tool_run(["facecat-people", "confirm", "Barack"], home, "facecat-people confirm (again)", env=env)
    tool_run(["facecat-digikam", "xmp"], home, env=env)
    tool_run(["facecat-digikam", "csv", "-o", os.path.join(tmp, "faces.csv")], home, env=env)
    dk = os.path.join(tmp, "dk", "digikam4.db")
    os.makedirs(os.path.dirname(dk))
    shutil.copyfile(need_testdata("digikam", "digikam4.db"), dk)
    tool_run(["facecat-digikam", "db", "--digikam-db", dk, "--dry-run"], home, "facecat-digikam db", env=env, rc=(0, 1))
    tool_run(["facecat-digikam", "import", "--xmp", photos], home, "facecat-digikam import", env=env, rc=(0, 1))
    tool_run(["facecat-people", "erase", "Barack"], home, "facecat-people erase", env=env)

    # ---- facecat-scenes ----------------------------------------------------------------------------------------
    video = need_testdata("video", "counter.mp4")
    tool_run(["facecat-scenes", "--out", os.path.join(tmp, "frames"), video], home, env=env)
    tool_run(["facecat-scenes", "--no-catalog", "--decode-only", "ffmpeg", video], home, "facecat-scenes decode",
             env=env)
    tool_run(["facecat-scenes", "--no-catalog", "--out", os.path.join(tmp, "frames2"), files[0]], home,
             "facecat-scenes (not a video)", env=env, rc=(1,))
    tool_run(["facecat-catalog", "forget", os.path.abspath(video)], home, "facecat-catalog forget video", env=env)

    # ---- facecat-vk (the fake VK server) -----------------------------------------------------------------------
    with FakeVK(testdata=TESTDATA, friends=4, fof=2, rate_limit={"user": 1000, "service": 1000, "group": 1000}) as fake:
        vk = dict(env, VKAPPS_TOKEN="user-token", FACECAT_VK_API_BASE=fake.api_base, FACECAT_VK_RPS="50",
                  VK_COMMUNITY_TOKEN="group-token")
        g = fake.graph()
        tool_run(["facecat-vk", "fetch", "--user", str(g["root"]), "--depth", "2", "--photos", "1", "--out",
                  os.path.join(tmp, "vk")], home, env=vk, rc=(0, 1), timeout=300)
        tool_run(["facecat-vk", "suggest", "--user", str(g["root"])], home, env=vk)
        tool_run(["facecat-vk", "notify", "--user", "5", "--text", "hi", "--dry-run"], home, "facecat-vk notify",
                 env=vk)
        tool_run(["facecat-vk", "notify", "--user", "5", "--text", "hi"], home, "facecat-vk notify (sent)", env=vk)

    tools = {t.split()[0] for e in SEEN.values() for t in e}
    check_eq(sorted(tools), sorted(["facecat-scan", "facecat-detect", "facecat-match", "facecat-cluster",
                                    "facecat-people", "facecat-report", "facecat-vk", "facecat-scenes",
                                    "facecat-digikam", "facecat-catalog", "facecat-review"]),
             "every tool's records were validated")
    print("events validated: " + ", ".join(f"{e} ({len(t)})" for e, t in sorted(SEEN.items())))

    # ---- tables for people: a terminal gets a table, without descriptors -----------------------------------------
    rc, out = on_pty(["facecat-detect", "-q", "--no-crops", files[1]], home, env=env)
    lines = [l for l in out.splitlines() if l.strip() and not l.startswith("20")]  # log lines start with the time
    check(rc == 0 and any(l.split()[:3] == ["PATH", "FACE", "FACES"] for l in lines),
          f"detect on a terminal: a table with a header ({out[-600:]!r})")
    check(not any(l.lstrip().startswith("{") for l in lines) and "descriptor" not in out and
          not any(len(w) > 200 for l in lines for w in l.split()), f"detect on a terminal: no JSON, no base64 ({out[-300:]!r})")
    check(sum(1 for l in lines if "two_people.jpg" in l) == 2, "detect on a terminal: one row per face")
    rc, out = on_pty(["facecat-detect", "-q", "--no-crops", "--format", "jsonl", files[1]], home, env=env)
    js = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
    check(rc == 0 and [x["event"] for x in js] == ["pipeline", "face", "face"] and all(
        x.get("descriptor") for x in js[1:]), f"--format jsonl on a terminal: JSON Lines with descriptors ({out[-300:]!r})")
    rc, out = on_pty(["facecat-people", "-q", "list"], home, env=env)
    check(rc == 0 and "NAME" in out and "{" not in out, f"people list on a terminal: a table ({out[-300:]!r})")
    rc, out = on_pty(["facecat-catalog", "-q", "stats"], home, env=env)
    check(rc == 0 and "faces:" in out and "{" not in out, f"catalog stats on a terminal: a summary ({out[-300:]!r})")
    r = run(["facecat-people", "--format", "csv", "list"], home, env=env)
    check(r.rc == 0 and r.stdout.decode().startswith("ID,NAME,STATUS"), f"--format csv: a CSV header ({r.stdout[:80]!r})")
finish()
