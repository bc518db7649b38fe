#!/usr/bin/env python3
"""Cron safety (issue 8): the writer lock beside the catalog (a collision fails fast with exit 3 and a message
naming the holder; --wait and FACECAT_LOCK_WAIT wait for it), --quiet, the rotating log file (log.file), and
scripts/cron-example end to end."""
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from facecat_test import (BIN_DIR, TempDir, check, check_eq, check_locale, clean_env, finish,  # noqa: E402
                          need_program, run, tool)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def make_photos(folder, n):
    need_program("convert")
    os.makedirs(folder)
    base = os.path.join(folder, ".base.jpg")
    subprocess.run(["convert", "-size", "16x16", "gradient:red-blue", base], check=True)
    blob = open(base, "rb").read()
    os.remove(base)
    for i in range(n):
        with open(os.path.join(folder, f"c{i:05d}.jpg"), "wb") as f:
            f.write(blob + i.to_bytes(4, "little"))


def main():
    check_locale()
    with TempDir() as tmp:
        home = os.path.join(tmp, "home")
        photos = os.path.join(tmp, "photos")
        make_photos(photos, 2500)
        cat = os.path.join(tmp, "cat.db")

        # ---- a real collision: a scan blocked on its stdout holds the lock --------------------------------------
        holder = subprocess.Popen([tool("facecat-scan"), photos, "--catalog", cat], stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, env=clean_env(home))
        holder.stdout.readline()  # it is running and holds the lock; it blocks once the pipe is full
        for cmd in (["facecat-scan", photos], ["facecat-catalog", "migrate"]):
            t0 = time.monotonic()
            r = run(cmd + ["--catalog", cat], home)
            took = time.monotonic() - t0
            err = r.stderr.decode("utf-8", "replace")
            check_eq(r.rc, 3, f"{cmd[0]} while another writer runs: exit 3")
            check(took < 5, f"{cmd[0]}: fails fast ({took:.1f} s)")
            lines = [l for l in err.splitlines() if l.strip()]
            check(len(lines) == 1 and "being written by another process" in lines[0]
                  and f"pid {holder.pid} on " in lines[0] and "--wait" in lines[0],
                  f"{cmd[0]}: one line naming the holder and --wait ({lines})")
        # readers need no lock
        r = run(["facecat-catalog", "stats", "--catalog", cat], home)
        check_eq(r.rc, 0, "a reader works while a writer holds the lock")
        # --wait: waits until the holder is done
        waiter = subprocess.Popen([tool("facecat-scan"), photos, "--catalog", cat, "--wait", "--quiet"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=clean_env(home))
        time.sleep(1.5)
        check(waiter.poll() is None, "--wait: still waiting while the lock is held")
        holder.stdout.read()  # let the holder finish
        check_eq(holder.wait(timeout=120), 0, "the holder finishes")
        check_eq(waiter.wait(timeout=120), 0, "--wait: runs once the lock is free")
        check_eq(waiter.stderr.read(), b"", "--wait --quiet: nothing on stderr")
        waiter.stderr.close()
        # FACECAT_LOCK_WAIT=true: the same through the environment (cron lines)
        pyhold = subprocess.Popen([sys.executable, "-c", "import fcntl,sys,time; f=open(sys.argv[1],'a'); "
                                   "fcntl.flock(f, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(2)",
                                   cat + ".lock"], stdout=subprocess.PIPE)
        pyhold.stdout.readline()
        t0 = time.monotonic()
        r = run(["facecat-scan", photos, "--catalog", cat, "--quiet"], home, env={"FACECAT_LOCK_WAIT": "true"})
        took = time.monotonic() - t0
        check(r.rc == 0 and took >= 1.0, f"FACECAT_LOCK_WAIT=true waits for the lock (exit {r.rc}, {took:.1f} s)")
        pyhold.wait()
        pyhold.stdout.close()

        # ---- --quiet and the log file ------------------------------------------------------------------------
        more = os.path.join(photos, "more")
        make_photos(more, 5)
        r = run(["facecat-scan", photos, "--catalog", cat], home)
        check(re.search(rb"info: .*5 new", r.stderr) is not None, f"without --quiet: the summary on stderr ({r.stderr[-300:]!r})")
        logdir = os.path.join(tmp, "log")
        os.makedirs(logdir)
        log = os.path.join(logdir, "facecat.log")
        os.remove(os.path.join(more, "c00001.jpg"))
        r = run(["facecat-scan", photos, "--catalog", cat, "--quiet"], home, env={"FACECAT_LOG_FILE": log})
        check_eq((r.rc, r.stderr), (0, b""), "--quiet: nothing on stderr")
        text = open(log, "rb").read().decode()
        check(re.search(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:?\d\d facecat-scan\[\d+\] info: .*1 missing", text, re.M)
              is not None, f"--quiet: the log file still gets the summary, timestamped, with tool and pid ({text!r})")
        # rotation: a log file at its size limit (10 MiB) is rotated to facecat.1.log on the next write
        with open(log, "ab") as f:
            f.write(b"x" * (10 * 1024 * 1024 - os.path.getsize(log) - 10) + b"\n")
        old_size = os.path.getsize(log)
        r = run(["facecat-scan", photos, "--catalog", cat, "--quiet"], home, env={"FACECAT_LOG_FILE": log})
        rotated = os.path.join(logdir, "facecat.1.log")
        check(os.path.exists(rotated) and os.path.getsize(rotated) == old_size,
              f"the full log was rotated to facecat.1.log ({os.listdir(logdir)})")
        check(os.path.getsize(log) < 4096 and b"facecat-scan" in open(log, "rb").read(),
              "the new log file starts small with this run's lines")
        # an unwritable log file: one warning, and the run goes on
        r = run(["facecat-scan", photos, "--catalog", cat], home,
                env={"FACECAT_LOG_FILE": os.path.join(cat, "x.log"), "FACECAT_LOG_LEVEL": "warn"})  # under a file
        err = r.stderr.decode("utf-8", "replace").splitlines()
        check(r.rc == 0 and len(err) == 1 and "cannot open log file" in err[0],
              f"an unusable log file: one warning, the run goes on ({err})")

        # ---- scripts/cron-example ------------------------------------------------------------------------------
        script = os.path.join(ROOT, "scripts", "cron-example")
        cfg = os.path.join(tmp, "config.ini")
        cron_cat = os.path.join(tmp, "cron.db")
        with open(cfg, "w") as f:
            f.write(f"[catalog]\npath = {cron_cat}\n[scan]\nRootPathForScanning = {photos}\n"
                    f"[log]\nfile = {os.path.join(tmp, 'cron.log')}\n")
        env = clean_env(home, {"FACECAT_CONFIG": cfg, "FACECAT_BIN_DIR": BIN_DIR})
        if not os.path.exists(os.path.join(BIN_DIR, "facecat-detect")):
            print("note: facecat-detect was not built; cron-example runs the scan step only")
        p = subprocess.run([script], capture_output=True, env=env, timeout=600)
        check_eq((p.returncode, p.stdout, p.stderr), (0, b"", b""), "cron-example: exit 0, silent")
        text = open(os.path.join(tmp, "cron.log")).read()
        check("facecat-scan" in text and "new" in text, "cron-example: the log file has the run's summary")
        r = run(["facecat-catalog", "stats", "--catalog", cron_cat], home)
        check_eq(r.jsonl()[0]["files"]["image"]["present"], 2504, "cron-example: the photos are in the catalog")
        # overlapping runs: the second stops at its first step with exit 3 and one line
        holder = subprocess.Popen([sys.executable, "-c", "import fcntl,sys,time; f=open(sys.argv[1],'a'); "
                                   "fcntl.flock(f, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(30)",
                                   cron_cat + ".lock"], stdout=subprocess.PIPE)
        holder.stdout.readline()
        p = subprocess.run([script], capture_output=True, env=env, timeout=60)
        lines = p.stderr.decode().splitlines()
        check(p.returncode == 3 and len(lines) == 1 and "being written by another process" in lines[0],
              f"cron-example overlapping a running job: exit 3 and one line ({p.returncode}, {lines})")
        holder.kill()
        holder.wait()
        holder.stdout.close()
    finish()


if __name__ == "__main__":
    main()
