"""Shard mode and merge: `facecat-detect --shard 1/2` and `2/2` on two "machines" (two catalogs of the same photos)
split the pending files by content hash, and `facecat-catalog merge` of the two gives exactly one machine's
catalog (same files, detections, faces, boxes, descriptors bit for bit, pipelines, models), in either order;
merging again changes nothing; bad input (garbage, missing file, newer schema, a catalog with people, the catalog
itself) gets one clear error and leaves the catalog unchanged; --shard is validated."""
import os
import shutil
import sqlite3
import time

from catalog_compare import check_same_results, make_subset, rows, scan_and_detect_local, snapshot
from detect_fixture import env_for
from facecat_test import TempDir, check, check_eq, check_locale, finish, run

check_locale()
t0 = time.monotonic()

with TempDir() as tmp:
    home = os.path.join(tmp, "home")
    photos = os.path.join(tmp, "photos")
    n_files = make_subset(photos)
    env = env_for(tmp)

    # ---- one machine -------------------------------------------------------------------------------------------
    cats = scan_and_detect_local(tmp, home, env, photos, ("local", "s1", "s2"))

    def cat(name):
        return cats.get(name) or os.path.join(tmp, name + ".db")


    # ---- --shard validation --------------------------------------------------------------------------------------
    for bad in ("0/2", "3/2", "1/0", "x", "1", "1/2/3", "-1/2"):
        r = run(["facecat-detect", "--catalog", cat("s1"), "--shard", bad], home, env=env)
        check(r.rc == 2 and b"--shard expects i/n" in r.stderr, f"--shard {bad}: usage error (exit {r.rc})")
    r = run(["facecat-detect", "--stdin", "--shard", "1/2"], home, env=env, stdin="")
    check(r.rc == 2 and b"--shard goes with catalog mode" in r.stderr, f"--shard with --stdin: usage error ({r.rc})")

    # ---- two shards, each on its own catalog -------------------------------------------------------------------
    shares = []
    for i, c in ((1, "s1"), (2, "s2")):
        r = run(["facecat-detect", "--catalog", cat(c), "--shard", f"{i}/2"], home, env=env)
        check_eq(r.rc, 0, f"shard {i}/2: detect ({r.stderr[-300:]!r})")
        shares.append({h for (h,) in rows(cat(c), "SELECT file_hash FROM detections")})
    every = {h for (h,) in rows(cat("local"), "SELECT file_hash FROM detections")}
    check(shares[0] and shares[1] and not shares[0] & shares[1] and shares[0] | shares[1] == every,
          f"the shards split the {len(every)} contents without overlap ({len(shares[0])} + {len(shares[1])})")
    r = run(["facecat-detect", "--catalog", cat("s1"), "--shard", "1/2"], home, env=env)
    check(r.rc == 0 and r.stdout == b"", "a shard's re-run has nothing to do")
    r = run(["facecat-catalog", "--catalog", cat("s1"), "pending", "detect"], home, env=env)
    check_eq(len(r.stdout.splitlines()), len(shares[1]), "the other shard's files stay pending in shard 1's catalog")

    # ---- merge -----------------------------------------------------------------------------------------------------
    r = run(["facecat-catalog", "--catalog", cat("merged"), "merge", cat("s1"), cat("s2")], home, env=env)
    check_eq(r.rc, 0, f"merge s1 s2 ({r.stderr[-300:]!r})")
    ev = r.events("catalog_merged")
    check(len(ev) == 2 and ev[0]["file_count"] == n_files and ev[1]["file_count"] == 0 and ev[1]["known_file_count"] == n_files,
          f"files come from the first shard, the second has them already ({[(e['file_count'], e['known_file_count']) for e in ev]})")
    total, same = check_same_results(cat("merged"), cat("local"), "shard 1/2 + 2/2 merged == one machine")
    print(f"figures: {total} faces compared, {same} descriptors bit-identical, {len(every)} contents, "
          f"shares {len(shares[0])} + {len(shares[1])}")
    r = run(["facecat-catalog", "--catalog", cat("merged"), "check"], home)
    check_eq(r.rc, 0, "the merged catalog checks clean")
    r = run(["facecat-catalog", "--catalog", cat("merged"), "pending", "detect"], home, env=env)
    check(r.rc == 0 and r.stdout == b"", "nothing is pending after the merge")

    before = snapshot(cat("merged"))
    face_ids = rows(cat("merged"), "SELECT id FROM faces ORDER BY id")
    r = run(["facecat-catalog", "--catalog", cat("merged"), "merge", cat("s1"), cat("s2")], home, env=env)
    ev = r.events("catalog_merged")
    check(r.rc == 0 and all(e["file_count"] == e["detection_count"] == e["face_count"] == 0 for e in ev),
          f"merging again inserts nothing ({r.stdout[-300:]!r})")
    check(snapshot(cat("merged")) == before and rows(cat("merged"), "SELECT id FROM faces ORDER BY id") == face_ids,
          "merging again changes nothing (rows and face ids)")

    r = run(["facecat-catalog", "--catalog", cat("reverse"), "merge", cat("s2"), cat("s1")], home, env=env)
    check_eq(r.rc, 0, "merge s2 s1")
    check_same_results(cat("reverse"), cat("local"), "merged in the other order == one machine")

    # ---- merge into a catalog that scanned for itself, with the other side's mount point mapped ------------------
    other_mount = os.path.join(tmp, "elsewhere")
    os.symlink(photos, other_mount)
    r = run(["facecat-scan", "--catalog", cat("s3"), other_mount + "/"], home, env=env)
    check(all(p.startswith(os.fsencode(other_mount) + b"/") for (p,) in rows(cat("s3"), "SELECT path FROM files")),
          "the other machine's catalog has its own paths")
    r = run(["facecat-scan", "--catalog", cat("mapped"), photos], home, env=env)
    r = run(["facecat-catalog", "--catalog", cat("mapped"), "merge", "--path-map", f"{other_mount}={photos}",
             cat("s3")], home, env=env)
    ev = r.events("catalog_merged")
    check(r.rc == 0 and ev and ev[0]["file_count"] == 0 and ev[0]["known_file_count"] == n_files and r.stdout.count(b"error") == 0,
          f"--path-map: the other machine's paths are this catalog's files ({ev})")
    check_eq(rows(cat("mapped"), "SELECT count(*) FROM files")[0][0], n_files, "--path-map: no foreign paths added")

    # ---- bad input: one clear error each, the catalog unchanged -----------------------------------------------------
    garbage = os.path.join(tmp, "garbage.db")
    with open(garbage, "wb") as f:
        f.write(b"this is not a catalog\n" * 100)

    def altered_copy(src, name, sql):
        """A copy of catalog `src` with one statement applied."""
        dst = cat(name)
        shutil.copyfile(cat(src), dst)
        db = sqlite3.connect(dst)
        db.execute(sql)
        db.commit()
        db.close()
        return dst

    newer = altered_copy("s1", "newer", "PRAGMA user_version = 99")
    with_people = altered_copy("s2", "people", "INSERT INTO people (name, status, created_at, updated_at) "
                                               "VALUES ('Alice', 'named', 0, 0)")
    plain = os.path.join(tmp, "plain.sqlite")
    sqlite3.connect(plain).execute("CREATE TABLE t (x)").connection.close()
    cases = [(garbage, "not a database"), (os.path.join(tmp, "absent.db"), "no such file"),
             (newer, "is newer than this facecat"), (with_people, "holds 1 people"),
             (plain, "not a facecat catalog"), (tmp, "not a regular file"), (cat("merged"), "is this catalog itself")]
    for path, why in cases:
        r = run(["facecat-catalog", "--catalog", cat("merged"), "merge", path], home, env=env)
        err = r.stderr.decode("utf-8", "replace")
        lines = [l for l in err.splitlines() if "error" in l]
        check(r.rc == 1 and len(lines) == 1 and why in lines[0] and path in lines[0],
              f"merge {os.path.basename(path)}: exit 1 and one error line naming it: {why!r} ({r.rc}, {err[-300:]!r})")
    check(snapshot(cat("merged")) == before, "the catalog is unchanged after the bad merges")
    check(not os.path.exists(os.path.join(tmp, "absent.db")), "merge does not create a missing OTHER")

    print(f"test time: {time.monotonic() - t0:.1f} s")

finish()
