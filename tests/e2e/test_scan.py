"""facecat-scan end to end: first scan, no-read re-scan, modify/move/delete, duplicates, bad files,
non-UTF-8 names, SIGKILL in the middle, exit codes."""
import fcntl
import os
import shutil
import signal
import sqlite3
import subprocess
import time

from facecat_test import (Case, TempDir, check, check_eq, check_locale, clean_env, finish, need_program,
                          need_testdata, path_of, run, tool)

check_locale()
faces = need_testdata("faces")
strace = need_program("strace")

PHOTOS = ["deepface/Angelina/img1.jpg", "deepface/Angelina/img2.jpg", "deepface/Mark/img13.jpg",
          "deepface/Scarlett/img47.jpg", "face_recognition/obama/obama.jpg", "face_recognition/biden/biden.jpg",
          "face_recognition/obama/32bit.png"]


def build_tree(root):
    os.makedirs(os.path.join(root, "a", "b"))
    os.makedirs(os.path.join(root, ".git"))
    os.makedirs(os.path.join(root, "@eaDir"))
    for i, rel in enumerate(PHOTOS):
        sub = ["", "a", os.path.join("a", "b")][i % 3]
        shutil.copy(os.path.join(faces, rel), os.path.join(root, sub, os.path.basename(rel)))
    shutil.copy(os.path.join(faces, PHOTOS[0]), os.path.join(root, ".git", "hidden.jpg"))
    shutil.copy(os.path.join(faces, PHOTOS[0]), os.path.join(root, "@eaDir", "thumb.jpg"))
    with open(os.path.join(root, "notes.txt"), "w") as f:
        f.write("not a photo\n")
    os.symlink("..", os.path.join(root, "a", "loop"))  # a symlink loop


def rows(db):
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT id, path, hash, kind, status, duplicate_of, error FROM files ORDER BY id").fetchall()
    finally:
        con.close()


with TempDir() as tmp:
    home = os.path.join(tmp, "home")
    tree = os.path.join(tmp, "tree")
    build_tree(tree)
    cat = os.path.join(tmp, "cat.db")

    # --- first scan -------------------------------------------------------------------------------------------
    r = run(["facecat-scan", tree, "--catalog", cat, "--follow-symlinks"], home)
    check_eq(r.rc, 0, "first scan exits 0")
    new = r.events("new")
    check_eq(len(new), len(PHOTOS), "one 'new' event per photo (excluded folders and the symlink loop skipped)")
    for e in new:
        for field in ("path", "file_id", "hash", "kind", "width", "height", "taken_at", "camera", "gps", "orientation"):
            check(field in e, f"new event has {field}: {os.path.basename(e['path'])}")
    by_name = {os.path.basename(e["path"]): e for e in new}
    check_eq(by_name["img47.jpg"]["format"], "webp", "img47.jpg is sniffed as WebP")
    check_eq(by_name["32bit.png"]["format"], "png", "32bit.png is a PNG")
    check(all(len(e["hash"]) == 32 for e in new), "hashes are XXH3-128 hex")
    check(b"summary" not in r.stdout and r.stderr.count(b"\n") >= 1, "summary goes to stderr, not stdout")
    check(b"new, 0 changed" in r.stderr, "stderr has the summary line")

    # --- re-scan with nothing changed reads no file -------------------------------------------------------------
    trace = os.path.join(tmp, "trace.txt")
    argv = [strace, "-f", "-qq", "-e", "trace=open,openat,openat2", "-o", trace,
            tool("facecat-scan"), tree, "--catalog", cat, "--follow-symlinks"]
    p = subprocess.run(argv, capture_output=True, env=clean_env(home))
    check_eq(p.returncode, 0, "re-scan exits 0")
    check_eq(p.stdout, b"", "re-scan with nothing changed prints no events")
    opened_files = []
    for line in open(trace, errors="replace"):
        if tree in line and "O_DIRECTORY" not in line:
            opened_files.append(line.strip())
    check_eq(opened_files, [], "re-scan opened no file in the tree (only folders)")
    r = run(["facecat-scan", tree, "--catalog", cat, "--all"], home)
    check_eq(len(r.events("unchanged")), len(PHOTOS) + 1, "--all prints 'unchanged' for every file (+ notes.txt)")

    # --- modify, move, delete, duplicate ------------------------------------------------------------------------
    ids = {os.path.basename(e["path"]): e["file_id"] for e in new}
    with open(os.path.join(tree, "img1.jpg"), "ab") as f:
        f.write(b"\0" * 16)  # changed content (still a valid JPEG: EOI stays in the tail)
    os.rename(os.path.join(tree, "a", "img2.jpg"), os.path.join(tree, "renamed.jpg"))
    os.remove(os.path.join(tree, "a", "b", "img13.jpg"))
    shutil.copy(path_of(by_name["obama.jpg"]), os.path.join(tree, "obama-copy.jpg"))
    r = run(["facecat-scan", tree, "--catalog", cat], home)
    check_eq(r.rc, 0, "scan after changes exits 0")
    ch, mv, ms, nw = r.events("changed"), r.events("moved"), r.events("missing"), r.events("new")
    check_eq([os.path.basename(e["path"]) for e in ch], ["img1.jpg"], "modified file is 'changed'")
    check_eq(ch[0]["file_id"], ids["img1.jpg"], "changed file keeps its id")
    check_eq([os.path.basename(e["path"]) for e in mv], ["renamed.jpg"], "renamed file is 'moved'")
    check_eq(mv[0]["file_id"], ids["img2.jpg"], "moved file keeps its id (faces stay attached)")
    check(path_of(mv[0], "from").endswith(b"/a/img2.jpg"), "moved event names where it came from")
    check_eq([os.path.basename(e["path"]) for e in ms], ["img13.jpg"], "deleted file is 'missing'")
    check_eq(len(nw), 1, "the copy is new")
    check_eq(nw[0].get("duplicate_of"), ids["obama.jpg"], "the copy is recorded as a duplicate")
    status = {os.path.basename(r_[1].decode()): r_[4] for r_ in rows(cat)}
    check_eq(status["img13.jpg"], "missing", "the missing file's row is kept")
    r = run(["facecat-scan", tree, "--catalog", cat, "--prune"], home)
    check("img13.jpg" not in {os.path.basename(r_[1].decode()) for r_ in rows(cat)}, "--prune deletes missing rows")

    # --- bad input ---------------------------------------------------------------------------------------------
    bad = os.path.join(tmp, "bad")
    os.makedirs(bad)
    open(os.path.join(bad, "zero.jpg"), "wb").close()
    data = open(os.path.join(faces, PHOTOS[0]), "rb").read()
    open(os.path.join(bad, "truncated.jpg"), "wb").write(data[: len(data) // 3])
    open(os.path.join(bad, "text.jpg"), "w").write("I am text with a .jpg name\n")
    unreadable = os.path.join(bad, "unreadable.jpg")
    shutil.copy(os.path.join(faces, PHOTOS[1]), unreadable)
    os.chmod(unreadable, 0)
    garbage = bytearray(data)
    app1 = garbage.find(b"Exif\0\0")
    garbage[app1 + 10: app1 + 14] = b"\xf0\xff\xff\x7f" if garbage[app1 + 6:app1 + 8] == b"II" else b"\x7f\xff\xff\xf0"
    open(os.path.join(bad, "garbage-exif.jpg"), "wb").write(bytes(garbage))
    weird = os.path.join(bad.encode(), b"caf\xe9-latin1.jpg")  # not UTF-8
    shutil.copy(os.path.join(faces, PHOTOS[5]), weird)
    shutil.copy(os.path.join(faces, PHOTOS[4]), os.path.join(bad, "good.jpg"))
    os.chmod(bad, 0o777)
    for f in os.listdir(bad):
        if f != "unreadable.jpg":
            os.chmod(os.path.join(bad, f), 0o666)
    bad_cat = os.path.join(tmp, "badcat", "cat.db")
    os.makedirs(os.path.dirname(bad_cat))
    os.chmod(os.path.dirname(bad_cat), 0o777)
    os.chmod(tmp, 0o755)
    # Run as an unprivileged user so that the unreadable file really is unreadable (root reads everything).
    setpriv = shutil.which("setpriv")
    cmd = [tool("facecat-scan"), bad, "--catalog", bad_cat]
    if os.geteuid() == 0 and setpriv:
        cmd = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"] + cmd
    p = subprocess.run(cmd, capture_output=True, env=clean_env(home if os.geteuid() != 0 else "/tmp"))
    check_eq(p.returncode, 1, "bad files give exit code 1")
    from facecat_test import Result
    r = Result(p)
    errors = {os.path.basename(path_of(e)).decode("utf-8", "replace"): e["reason"] for e in r.events("error")}
    for name, why in [("zero.jpg", "empty"), ("truncated.jpg", "truncated JPEG"), ("text.jpg", "not an image"),
                      ("unreadable.jpg", "Permission denied")]:
        check(name in errors and why in errors[name], f"{name}: error event says {why!r} (got {errors.get(name)!r})")
    warnings = {os.path.basename(path_of(e)).decode("utf-8", "replace"): e for e in r.events("warning")}
    check("garbage-exif.jpg" in warnings and "EXIF" in warnings["garbage-exif.jpg"]["reason"]
          and "garbage-exif.jpg" not in errors, "garbage-exif.jpg: a warning event (usable despite its EXIF), not an error")
    stderr = p.stderr.decode("utf-8", "replace")
    for name in ["zero.jpg", "truncated.jpg", "text.jpg", "unreadable.jpg", "garbage-exif.jpg"]:
        check_eq(sum(1 for l in stderr.splitlines() if name in l), 1, f"exactly one log line names {name}")
    good = [e for e in r.events("new")]
    names = sorted(path_of(e) for e in good)
    check_eq(names, sorted([os.path.join(bad.encode(), b"caf\xe9-latin1.jpg"), os.path.join(bad, "good.jpg").encode()]),
             "the scan went on: the good files were registered (the non-UTF-8 name losslessly)")
    latin = [e for e in good if "path_b64" in e]
    check_eq(len(latin), 1, "a non-UTF-8 name carries path_b64")
    con = sqlite3.connect(bad_cat)
    stored = [r_[0] for r_ in con.execute("SELECT path FROM files WHERE id=?", (latin[0]["file_id"],))]
    con.close()
    check_eq(stored, [weird], "the same raw bytes are in the catalog")
    r = run(["facecat-catalog", "check", "--catalog", bad_cat], home)
    check_eq(r.rc, 0, "catalog check is clean after bad input")

    # --- SIGKILL in the middle of a scan -----------------------------------------------------------------------
    big = os.path.join(tmp, "big")
    os.makedirs(big)
    src = os.path.join(faces, PHOTOS[2])
    blob = open(src, "rb").read()
    n_files = 1500
    for i in range(n_files):
        # distinct content per file: append a counter after the JPEG's end
        open(os.path.join(big, f"p{i:05d}.jpg"), "wb").write(blob + i.to_bytes(4, "little"))
    kcat = os.path.join(tmp, "kill.db")
    # Killed at a point the test observes, never after a sleep: scan's stdout is a one-page pipe that is read event
    # by event while the catalog is polled (read-only); once a commit is seen reading stops, so scan blocks on its
    # next event, far before its last file (it commits every 500 files or second; 1500 events are ~100 pages).
    p = subprocess.Popen([tool("facecat-scan"), big, "--catalog", kcat], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, env=clean_env(home))
    fcntl.fcntl(p.stdout.fileno(), fcntl.F_SETPIPE_SZ, 4096)
    committed = 0
    while not committed and p.stdout.readline():
        if os.path.exists(kcat):
            try:
                ro = sqlite3.connect(f"file:{kcat}?mode=ro", uri=True, timeout=30)
                committed = ro.execute("SELECT count(*) FROM files").fetchone()[0]
                ro.close()
            except sqlite3.OperationalError:  # the schema is not there yet
                committed = 0
    p.send_signal(signal.SIGKILL)
    p.wait()
    p.stdout.close()
    con = sqlite3.connect(kcat)
    stored = con.execute("SELECT count(*) FROM files").fetchone()[0]
    con.close()
    check(p.returncode == -signal.SIGKILL and 0 < stored < n_files,
          f"the scan was killed in the middle ({stored} of {n_files} files committed)")
    r = run(["facecat-scan", big, "--catalog", kcat], home)
    check_eq(r.rc, 0, "re-scan after SIGKILL exits 0")
    r = run(["facecat-catalog", "check", "--catalog", kcat], home)
    check_eq(r.rc, 0, "catalog check is clean after SIGKILL + re-scan")
    con = sqlite3.connect(kcat)
    count, distinct = con.execute("SELECT count(*), count(DISTINCT path) FROM files").fetchone()
    con.close()
    check_eq((count, distinct), (n_files, n_files), "every file is there exactly once")
    leftovers = [f for f in os.listdir(tmp) if ".tmp." in f]
    check_eq(leftovers, [], "no temp files left beside the catalog")

    # --- exit codes and messages -------------------------------------------------------------------------------
    newer = os.path.join(tmp, "newer.db")
    con = sqlite3.connect(newer)
    con.execute("PRAGMA user_version = 99")
    con.close()
    Case("newer catalog refused", ["facecat-scan", tree, "--catalog", newer], exit=3,
         stderr_contains="facecat-scan: error: catalog").run(home)
    Case("unknown flag is a usage error", ["facecat-scan", "--no-such-flag"], exit=2).run(home)
    Case("no path and no RootPathForScanning", ["facecat-scan", "--catalog", cat], exit=2,
         stderr_contains="RootPathForScanning").run(home)
    Case("missing path is one error", ["facecat-scan", os.path.join(tmp, "nope"), "--catalog", cat], exit=1,
         stderr_contains="nope").run(home)
    # a second writer is refused while the first holds the lock
    holder = subprocess.Popen(["python3", "-c", "import fcntl,sys,time; f=open(sys.argv[1],'a'); "
                               "fcntl.flock(f, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(30)",
                               cat + ".lock"], stdout=subprocess.PIPE)
    holder.stdout.readline()
    Case("lock collision", ["facecat-scan", tree, "--catalog", cat], exit=3,
         stderr_contains="being written by another process").run(home)
    holder.kill()
    holder.wait()
finish()
