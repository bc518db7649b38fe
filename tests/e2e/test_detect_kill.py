"""SIGKILL in the middle of a catalog-mode facecat-detect run, then a re-run: every file has exactly one
detection, no face is duplicated or missing (against an uninterrupted stdin-mode run), facecat-catalog check is
clean and no temp crop is left behind."""
import fcntl
import os
import signal
import sqlite3
import subprocess

from detect_fixture import PHOTOS, env_for, faces_by_key, make_tree, rows, temp_files
from facecat_test import TempDir, check, check_eq, check_locale, clean_env, finish, run, tool

check_locale()

with TempDir() as tmp:
    home = os.path.join(tmp, "home")
    photos = os.path.join(tmp, "photos")
    # Several copies with distinct content (a trailing byte after EOI changes the hash, not the pixels): more than
    # one writer batch (16 files), so the first commit comes before the last file however fast the machine is.
    files = []
    for i in range(4):
        for p in make_tree(os.path.join(photos, f"set{i}"), PHOTOS):
            with open(p, "ab") as f:
                f.write(bytes([i]))
            files.append(p)
    cat = os.path.join(tmp, "cat.db")
    env = dict(env_for(tmp), FACECAT_DETECT_THREADS="1")
    r = run(["facecat-scan", "--catalog", cat, photos], home, env=env)
    check_eq(r.rc, 0, "scan")

    ref = run(["facecat-detect", "--stdin", "--no-crops"], home, stdin="\n".join(files) + "\n", env=env)
    check_eq(ref.rc, 0, "reference run (stdin mode)")
    want = faces_by_key(ref.jsonl())
    out_bytes = len(ref.stdout)

    # Kill at a point the test observes, never after a sleep: detect's stdout is a pipe of one page that this test
    # reads record by record while it polls the catalog (read-only). Once a commit is seen it stops reading, so
    # detect blocks on its next record within a page of output and cannot reach its last commit, however fast or
    # slow the machine is. Every file gives a record, and what is left after the first commit (at most 16 files
    # or half a second in) is far more than a page.
    proc = subprocess.Popen([tool("facecat-detect"), "--catalog", cat], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env=clean_env(home, env), cwd=home)
    page = fcntl.fcntl(proc.stdout.fileno(), fcntl.F_SETPIPE_SZ, 4096)
    check(out_bytes > 4 * page, f"a full run prints much more than the pipe holds ({out_bytes} > 4 x {page} bytes)")
    ro = sqlite3.connect(f"file:{cat}?mode=ro", uri=True, timeout=30)
    committed = 0
    while not committed and proc.stdout.readline():
        committed = ro.execute("SELECT count(*) FROM detections").fetchone()[0]
    check(committed > 0, "a commit was observed before detect's output ended")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    ro.close()
    killed_after = rows(cat, "SELECT count(*) FROM detections")[0][0]
    check(proc.returncode == -signal.SIGKILL and 0 < killed_after < len(files),
          f"the run was killed in the middle ({killed_after} of {len(files)} committed)")

    # A temp crop as a kill during a crop's write would leave it (AtomicFile's name): the re-run removes it.
    pend = run(["facecat-catalog", "--catalog", cat, "pending", "detect"], home, env=env).jsonl()
    check_eq(len(pend), len(files) - killed_after, "pending detect lists the uncommitted files")
    if pend:
        h, v = pend[0]["hash"], pend[0]["pipeline"]
        os.makedirs(os.path.join(tmp, "crops", h[:2]), exist_ok=True)
        with open(os.path.join(tmp, "crops", h[:2], f".{h}_{v}_0.jpg.tmp.0123456789abcdef"), "wb") as f:
            f.write(b"\xff\xd8 half a crop")
    r = run(["facecat-detect", "--catalog", cat], home, env=env)
    check_eq(r.rc, 0, "re-run after SIGKILL")
    check_eq(len({x["hash"] for x in r.jsonl() if x["event"] != "pipeline"}), len(files) - (killed_after or 0),
             "the re-run processes exactly the files that were not committed")
    r = run(["facecat-detect", "--catalog", cat], home, env=env)
    check(r.rc == 0 and r.stdout == b"", "a third run has nothing to do")
    check_eq(rows(cat, "SELECT count(*) FROM detections")[0][0], len(files), "one detection per file")
    got = {(h, i): (f"[{x}, {y}, {w}, {hh}]", d) for h, i, x, y, w, hh, d in
           rows(cat, "SELECT file_hash, face_index, x, y, w, h, descriptor FROM faces")}
    import base64
    want_rows = {k: (str(v[0]), base64.b64decode(v[1])) for k, v in want.items()}
    check_eq(len(got), len(want_rows), "no duplicate and no missing face")
    check(got == want_rows, "the faces equal an uninterrupted run's")
    r = run(["facecat-catalog", "--catalog", cat, "check"], home)
    check_eq(r.rc, 0, "facecat-catalog check is clean")
    check_eq(temp_files(os.path.join(tmp, "crops")), [], "no temp crops left")
    crops = rows(cat, "SELECT crop_path FROM faces")
    check(all(c[0] and os.path.isfile(c[0]) for c in crops), "every stored face has its crop")
finish()
