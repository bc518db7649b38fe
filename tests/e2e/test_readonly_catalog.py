"""A catalog that a user may read but not write (issue 20): as an unprivileged user, the reading tools (stats,
check, pending, match, report, people list, digikam csv) work on a root-owned WAL catalog in a root-owned folder,
both as facecat's writers now leave it (-wal and -shm kept) and as an older facecat left it (no -wal, no -shm),
and nothing of the catalog changes."""
import hashlib
import os
import shutil
import subprocess

from facecat_test import BIN_DIR, TempDir, check, check_eq, check_locale, clean_env, finish, need_testdata, run, skip

check_locale()
PHOTO = need_testdata("faces", "face_recognition", "obama", "obama_small.jpg")
TWO = need_testdata("faces", "face_recognition", "_groups_unlabeled", "two_people.jpg")
SETPRIV = shutil.which("setpriv")
if os.geteuid() != 0 or not SETPRIV:
    skip("needs root and setpriv to run the readers as another user")


def as_nobody(args, home, cwd):
    argv = [SETPRIV, "--reuid=65534", "--regid=65534", "--clear-groups", os.path.join(BIN_DIR, args[0])] + args[1:]
    return subprocess.run(argv, capture_output=True, env=clean_env(home), cwd=cwd, timeout=600)


def digest(folder):
    return {n: hashlib.sha256(open(os.path.join(folder, n), "rb").read()).hexdigest()
            for n in sorted(os.listdir(folder))}


def main():
    with TempDir() as tmp:
        os.chmod(tmp, 0o755)
        home = os.path.join(tmp, "home")
        photos = os.path.join(tmp, "photos")
        os.makedirs(photos)
        for p in (PHOTO, TWO):
            shutil.copyfile(p, os.path.join(photos, os.path.basename(p)))
        catdir = os.path.join(tmp, "catdir")
        os.makedirs(catdir)
        cat = os.path.join(catdir, "catalog.db")
        env = {"FACECAT_CATALOG": cat, "FACECAT_MIN_FACE": "90"}
        for cmd in (["facecat-scan", photos], ["facecat-detect", "--no-crops"], ["facecat-cluster"]):
            r = run(cmd, home, env=env)
            check_eq(r.rc, 0, " ".join(cmd))
        people = run(["facecat-people", "list"], home, env=env).jsonl()
        check(len(people) >= 1, f"the catalog has people ({len(people)})")
        run(["facecat-people", "name", f"p{people[0]['person_id']}", "Someone"], home, env=env)
        for d, _, fs in os.walk(tmp):
            os.chmod(d, 0o755)
            for f in fs:
                os.chmod(os.path.join(d, f), 0o644)
        os.chmod(catdir, 0o755)  # root's folder: the reader may not create files in it
        nhome = os.path.join(tmp, "nobody-home")
        os.makedirs(nhome)
        os.chown(nhome, 65534, 65534)
        out = os.path.join(nhome, "report")

        def readers(variant):
            before = digest(catdir)
            cases = [
                (["facecat-catalog", "stats", "--catalog", cat], lambda o: b'"face_count"' in o),
                (["facecat-catalog", "check", "--catalog", cat], lambda o: b'"ok":true' in o),
                (["facecat-catalog", "pending", "detect", "--catalog", cat], lambda o: o == b""),
                (["facecat-people", "--catalog", cat, "list"], lambda o: b"Someone" in o),
                (["facecat-match", os.path.join(photos, "obama_small.jpg"), "--catalog", cat, "--format", "jsonl"],
                 lambda o: b'"event"' in o or b'"people"' in o),
                (["facecat-report", "--catalog", cat, "--out", out], lambda o: True),
                (["facecat-digikam", "csv", "-o", "-", "--catalog", cat], lambda o: o.startswith(b"path,name")),
            ]
            for args, ok in cases:
                p = as_nobody(args, nhome, nhome)
                what = f"{variant}: {' '.join(args[:2])} as another user"
                check(p.returncode == 0 and ok(p.stdout),
                      f"{what} (exit {p.returncode}, {p.stderr.decode(errors='replace')[-300:]!r})")
            check_eq(digest(catdir), before, f"{variant}: the catalog's files are unchanged")
            check(os.path.isfile(os.path.join(out, "index.html")), f"{variant}: the report was written")

        check(os.path.exists(cat + "-wal") and os.path.exists(cat + "-shm"),
              "facecat's writers leave the -wal and -shm files for readers")
        readers("as facecat leaves it")
        # As an older facecat left it: the last writer removed -wal and -shm.
        os.remove(cat + "-wal")
        os.remove(cat + "-shm")
        readers("without -wal and -shm")
        check(not os.path.exists(cat + "-wal"), "the reader created no -wal file")
    finish()


if __name__ == "__main__":
    main()
