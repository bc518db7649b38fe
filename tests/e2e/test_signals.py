#!/usr/bin/env python3
"""Signals and pipes (issue 8): SIGINT, SIGTERM and SIGHUP during facecat-scan, facecat-vk fetch and
facecat-digikam xmp exit with 130, 143 and 129, leave no temp file and a catalog that checks clean, and a re-run
finishes the job. The signal arrives while the tool is blocked writing to a full stdout pipe (its reader is not
reading): the tool must not wait for the reader. When stdout's reader goes away (`| head -1`), the tool exits
quietly with 141 and prints nothing."""
import os
import signal
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "fakevk"))
from facecat_test import (BIN_DIR, TESTDATA, TempDir, check, check_eq, check_locale, clean_env, finish,  # noqa: E402
                          need_program, run, tool)

EXPECT = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGHUP: 129}


def temp_files(root):
    return [os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs if ".tmp." in f]


def interrupt(cmd, env, sig, what, first_line=True, delay=0.3):
    """Starts cmd, waits for its first stdout line, stops reading, sends sig; returns (rc, stderr)."""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    if first_line:
        line = p.stdout.readline()
        check(bool(line), f"{what}: the tool started writing before the signal")
    time.sleep(delay)
    running = p.poll() is None
    check(running, f"{what}: still running when the signal is sent")
    p.send_signal(sig)
    try:
        rc = p.wait(timeout=60)  # stdout is NOT read: the tool may be blocked on a full pipe
    except subprocess.TimeoutExpired:
        p.kill()
        rc = p.wait()
        check(False, f"{what}: the tool did not stop within 60 s of {sig.name}")
    err = p.stderr.read()
    p.stdout.close()
    p.stderr.close()
    return rc, err


def catalog_clean(home, cat, what):
    r = run(["facecat-catalog", "check", "--catalog", cat], home)
    check_eq(r.rc, 0, f"{what}: facecat-catalog check is clean")


def scan_part(tmp, home):
    need_program("convert")
    photos = os.path.join(tmp, "photos")
    os.makedirs(photos)
    base = os.path.join(tmp, "base.jpg")
    subprocess.run(["convert", "-size", "16x16", "gradient:red-blue", base], check=True)
    blob = open(base, "rb").read()
    n = 3000  # ~1 MB of events: far more than a pipe holds, so the scan blocks on stdout
    for i in range(n):
        with open(os.path.join(photos, f"p{i:05d}.jpg"), "wb") as f:
            f.write(blob + i.to_bytes(4, "little"))
    for sig, code in EXPECT.items():
        cat = os.path.join(tmp, f"scan-{sig.name}.db")
        rc, err = interrupt([tool("facecat-scan"), photos, "--catalog", cat], clean_env(home), sig,
                            f"scan {sig.name}")
        check_eq(rc, code, f"scan {sig.name}: exit code")
        check("interrupted" in err.decode("utf-8", "replace"), f"scan {sig.name}: says it was interrupted")
        check_eq(temp_files(tmp), [], f"scan {sig.name}: no temp files")
        catalog_clean(home, cat, f"scan {sig.name}")
        con = sqlite3.connect(cat)
        status = con.execute("SELECT status FROM scans ORDER BY id DESC LIMIT 1").fetchone()
        done = con.execute("SELECT count(*) FROM files").fetchone()[0]
        con.close()
        check_eq(status, ("interrupted",), f"scan {sig.name}: the scan is recorded as interrupted")
        check(done < n, f"scan {sig.name}: stopped part-way ({done} of {n} files)")
        r = run(["facecat-scan", photos, "--catalog", cat, "--quiet"], home)
        check_eq(r.rc, 0, f"scan {sig.name}: a re-run finishes")
        con = sqlite3.connect(cat)
        count, distinct = con.execute("SELECT count(*), count(DISTINCT path) FROM files").fetchone()
        con.close()
        check_eq((count, distinct), (n, n), f"scan {sig.name}: every file registered exactly once after the re-run")

    # ---- EPIPE: the reader goes away ----------------------------------------------------------------------------
    cat = os.path.join(tmp, "pipe.db")
    p = subprocess.run(["bash", "-c", f'"$0" "$1" --catalog "$2" | head -1 >/dev/null; echo "${{PIPESTATUS[0]}}" >&2',
                        tool("facecat-scan"), photos, cat], capture_output=True, env=clean_env(home), timeout=120)
    lines = p.stderr.decode("utf-8", "replace").strip().splitlines()
    check_eq(lines[-1:], ["141"], "facecat-scan | head -1: exit code 141")
    check_eq(lines[:-1], [], "facecat-scan | head -1: nothing on stderr")
    catalog_clean(home, cat, "after EPIPE")
    r = run(["facecat-scan", photos, "--catalog", cat, "--quiet"], home)
    check_eq(r.rc, 0, "after EPIPE a re-run finishes")
    # a reader that closes early, from Python: the same
    p = subprocess.Popen([tool("facecat-scan"), photos, "--catalog", os.path.join(tmp, "pipe2.db")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=clean_env(home))
    p.stdout.readline()
    p.stdout.close()
    rc = p.wait(timeout=120)
    err = p.stderr.read()
    p.stderr.close()
    check_eq((rc, err), (141, b""), "reader closes early: exit 141, quietly")


def built(name):
    if os.path.exists(os.path.join(BIN_DIR, name)):
        return True
    print(f"note: {BIN_DIR}/{name} was not built; its part is skipped")
    return False


def vk_part(tmp, home):
    if not built("facecat-vk"):
        return
    if not os.path.isdir(os.path.join(TESTDATA, "faces")):
        print("note: test data absent; facecat-vk fetch signals skipped")
        return
    from fake import FakeVK  # noqa: E402
    for sig, code in EXPECT.items():
        d = os.path.join(tmp, f"vk-{sig.name}")
        os.makedirs(d)
        with FakeVK(testdata=TESTDATA, friends=14, fof=6, rate_limit={"user": 1000, "service": 1000, "group": 1000}) as fake:
            env = clean_env(home, {"VKAPPS_TOKEN": "user-token", "FACECAT_VK_API_BASE": fake.api_base,
                                   "FACECAT_VK_RPS": "15", "FACECAT_VK_RETRY_BASE_MS": "40"})
            cmd = [tool("facecat-vk"), "fetch", "--user", "fixture.root", "--depth", "2", "--photos", "2",
                   "--catalog", os.path.join(d, "cat.db"), "--out", os.path.join(d, "photos")]
            rc, err = interrupt(cmd, env, sig, f"vk fetch {sig.name}", delay=0.5)
            check_eq(rc, code, f"vk fetch {sig.name}: exit code")
            check_eq(temp_files(d), [], f"vk fetch {sig.name}: no temp files (no half-written download)")
            catalog_clean(home, os.path.join(d, "cat.db"), f"vk fetch {sig.name}")
            con = sqlite3.connect(os.path.join(d, "cat.db"))
            rows = {bytes(p).decode() for (p,) in con.execute("SELECT path FROM files WHERE origin='vk'")}
            con.close()
            photos = os.path.join(d, "photos")
            on_disk = {os.path.join(photos, f) for f in os.listdir(photos) if f != ".facecat-folder"} \
                if os.path.isdir(photos) else set()
            check_eq(on_disk - rows, set(), f"vk fetch {sig.name}: every photo on disk is registered")
            p = subprocess.run(cmd, capture_output=True, env=env, timeout=300)
            check(p.returncode in (0, 1), f"vk fetch {sig.name}: a re-run finishes (exit {p.returncode})")
            check_eq(temp_files(d), [], f"vk fetch {sig.name}: no temp files after the re-run")


def digikam_part(tmp, home):
    if not built("facecat-digikam"):
        return
    import digikam_fixture as fx
    need_program("convert")
    d = os.path.join(tmp, "dk")
    photos = os.path.join(d, "photos")
    os.makedirs(photos)
    base = os.path.join(d, "base.jpg")
    subprocess.run(["convert", "-size", "400x300", "gradient:red-blue", base], check=True)
    blob = open(base, "rb").read()
    n = 1500
    for i in range(n):
        with open(os.path.join(photos, f"d{i:05d}.jpg"), "wb") as f:
            f.write(blob + i.to_bytes(4, "little"))
    cat = os.path.join(d, "cat.db")
    r = run(["facecat-scan", "--catalog", cat, photos, "--quiet"], home)
    check_eq(r.rc, 0, "digikam: scan")
    fx.add_faces(cat, {os.path.join(photos, f"d{i:05d}.jpg"): [(10, 10, 50, 50, f"Person {i % 7}", "confirmed", "named")]
                       for i in range(n)})
    for sig, code in EXPECT.items():
        rc, err = interrupt([tool("facecat-digikam"), "--catalog", cat, "xmp"], clean_env(home), sig,
                            f"digikam xmp {sig.name}", delay=0.2)
        check_eq(rc, code, f"digikam xmp {sig.name}: exit code")
        check_eq(temp_files(d), [], f"digikam xmp {sig.name}: no temp files (no half-written sidecar)")
        catalog_clean(home, cat, f"digikam xmp {sig.name}")
    r = run(["facecat-digikam", "--catalog", cat, "xmp"], home)
    check_eq(r.rc, 0, "digikam xmp: a re-run finishes")
    sidecars = [f for f in os.listdir(photos) if f.endswith(".xmp")]
    check_eq(len(sidecars), n, "digikam xmp: one sidecar per photo after the re-run")


def main():
    check_locale()
    with TempDir() as tmp:
        home = os.path.join(tmp, "home")
        scan_part(tmp, home)
        vk_part(tmp, home)
        digikam_part(tmp, home)
    finish()


if __name__ == "__main__":
    main()
