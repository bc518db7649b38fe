"""Never destroy what facecat did not write (issue 20): every flag that names an output location, against a
"victim" folder of the user's, a character device, a FIFO and a symlink; the inputs that used to get a wrong
answer instead of an error; warnings that flow from scan to detect; exit codes as documented."""
import hashlib
import os
import shutil
import stat
import subprocess
import threading

from facecat_test import (TempDir, check, check_eq, check_locale, clean_env, finish, need_testdata, run, skip,
                          tool)
from test_corpus import short, tiff_block, with_exif

check_locale()
PHOTO = need_testdata("faces", "face_recognition", "obama", "obama_small.jpg")
TWO = need_testdata("faces", "face_recognition", "_groups_unlabeled", "two_people.jpg")


def snapshot(root):
    """Every entry under root: name -> (kind, size, sha256); the folder itself too."""
    out = {}
    st = os.lstat(root)
    out["."] = (stat.S_IFMT(st.st_mode), 0, "")
    for d, dirs, files in os.walk(root):
        for n in dirs + files:
            p = os.path.join(d, n)
            st = os.lstat(p)
            h = hashlib.sha256(open(p, "rb").read()).hexdigest() if stat.S_ISREG(st.st_mode) else ""
            out[os.path.relpath(p, root)] = (stat.S_IFMT(st.st_mode), st.st_size if stat.S_ISREG(st.st_mode) else 0, h)
    return out


def victim(path):
    os.makedirs(path, exist_ok=True)
    shutil.copyfile(PHOTO, os.path.join(path, "holiday.jpg"))
    shutil.copyfile(TWO, os.path.join(path, "family.jpg"))
    with open(os.path.join(path, "notes.txt"), "w") as f:
        f.write("my notes\n")
    return snapshot(path)


def refused(r, what, names, snap_before, root):
    check_eq(r.rc, 2, f"{what}: refused with exit 2 (stderr {r.stderr[-300:]!r})")
    err = r.stderr.decode("utf-8", "replace").strip().splitlines()
    lines = [l for l in err if "error" in l]
    check(len(lines) == 1 and all(n in lines[0] for n in names),
          f"{what}: one error line naming {names} ({lines})")
    check_eq(snapshot(root), snap_before, f"{what}: every file of the folder is unchanged (names, sizes, hashes)")


def main():
    with TempDir() as tmp:
        home = os.path.join(tmp, "home")
        photos = os.path.join(tmp, "photos")
        os.makedirs(photos)
        shutil.copyfile(PHOTO, os.path.join(photos, "obama.jpg"))
        shutil.copyfile(TWO, os.path.join(photos, "two.jpg"))
        cat = os.path.join(tmp, "cat.db")
        env = {"FACECAT_CATALOG": cat, "FACECAT_MIN_FACE": "90"}
        r = run(["facecat-scan", photos], home, env=env)
        check_eq(r.rc, 0, "scan")
        r = run(["facecat-detect", "--no-crops"], home, env=env)
        check_eq(r.rc, 0, "detect")

        # ---- report --out ---------------------------------------------------------------------------------------
        vic = os.path.join(tmp, "victim")
        before = victim(vic)
        refused(run(["facecat-report", "--out", vic], home, env=env), "report --out a folder of the user's",
                [vic, "not empty", "not made by facecat"], before, vic)
        target = os.path.join(vic, "holiday.jpg")
        refused(run(["facecat-report", "--out", target], home, env=env), "report --out a photo",
                [target, "not a folder"], before, vic)
        refused(run(["facecat-report", "--out", "."], home, env=env, cwd=vic), "report --out .",
                ["current folder"], before, vic)
        refused(run(["facecat-report", "--out", home], home, env=env), "report --out $HOME", ["home folder"],
                snapshot(home), home)
        r = run(["facecat-report", "--out", "/"], home, env=env)
        check(r.rc == 2 and b"root folder" in r.stderr, f"report --out / is refused ({r.stderr[-200:]!r})")
        sub = os.path.join(vic, "sub")
        r = run(["facecat-report", "--out", os.path.join(sub, "..")], home, env=env)
        check_eq(r.rc, 2, "report --out pointing back at the victim through '..' is refused")
        check_eq(snapshot(vic), before, "the victim is still unchanged")
        # a new folder, then replaced by a second report (it carries the marker); a marker-less old-style report
        # is recognised by its shape; the same with a file of the user's in it is refused
        rep = os.path.join(tmp, "report")
        for i in range(2):
            r = run(["facecat-report", "--out", rep], home, env=env)
            check_eq(r.rc, 0, f"report into a new folder, run {i + 1}")
        check(os.path.isfile(os.path.join(rep, ".facecat-folder")), "the report folder carries facecat's marker")
        check(not [n for n in os.listdir(tmp) if ".tmp-" in n or ".old-" in n], "no temp report folder is left")
        os.remove(os.path.join(rep, ".facecat-folder"))
        r = run(["facecat-report", "--out", rep], home, env=env)
        check_eq(r.rc, 0, "a report folder written before markers existed is recognised by its shape and replaced")
        os.remove(os.path.join(rep, ".facecat-folder"))
        with open(os.path.join(rep, "my-notes.txt"), "w") as f:
            f.write("mine")
        snap = snapshot(rep)
        refused(run(["facecat-report", "--out", rep], home, env=env),
                "an unmarked report folder with a file of the user's", [rep, "not empty"], snap, rep)

        # ---- scenes --out, detect crops and --chips, vk fetch --out ---------------------------------------------
        video = os.path.join(tmp, "clip.mp4")
        subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=10",
                        "-t", "1", video], check=True)
        refused(run(["facecat-scenes", video, "--out", vic, "--no-catalog"], home),
                "scenes --out a folder of the user's", [vic, "not empty"], before, vic)
        refused(run(["facecat-detect", PHOTO, "--chips", vic, "--landmarks"], home,
                    env={"FACECAT_MIN_FACE": "90", "FACECAT_CROPPED_FACES_PATH": os.path.join(tmp, "crops")}),
                "detect --chips a folder of the user's", [vic, "not empty"], before, vic)
        refused(run(["facecat-detect", PHOTO], home, env={"FACECAT_MIN_FACE": "90", "FACECAT_CROPPED_FACES_PATH": vic}),
                "detect with faces.CroppedFacesPath at a folder of the user's", [vic, "not empty"], before, vic)
        if os.path.exists(os.path.join(os.path.dirname(tool("facecat-scan")), "facecat-vk")):
            r = run(["facecat-vk", "fetch", "--user", "1", "--out", vic], home,
                    env={"FACECAT_CATALOG": os.path.join(tmp, "vk.db"), "VKAPPS_TOKEN": "vk1.a.test",
                         "FACECAT_VK_API_BASE": "http://127.0.0.1:9/method"})
            refused(r, "vk fetch --out a folder of the user's", [vic, "not empty"], before, vic)
        r = run(["facecat-scan", photos, "--catalog", os.path.join(vic, "holiday.jpg")], home)
        check(r.rc == 3 and b"not a facecat catalog" in r.stderr, f"--catalog a photo is refused ({r.stderr[-200:]!r})")
        check_eq(snapshot(vic), before, "--catalog a photo: the folder is unchanged (no lock file either)")
        # the folders facecat made itself carry the marker and are used again
        frames = os.path.join(tmp, "frames")
        for i in range(2):
            r = run(["facecat-scenes", video, "--out", frames, "--no-catalog"], home)
            check_eq(r.rc, 0, f"scenes into its own folder, run {i + 1}")
        check(os.path.isfile(os.path.join(frames, ".facecat-folder")), "the frames folder carries the marker")

        # ---- outputs that are not regular files: a character device, a FIFO, a symlink --------------------------
        if os.geteuid() == 0:
            fake = os.path.join(tmp, "fakenull")
            os.mknod(fake, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
            r = run(["facecat-digikam", "csv", "-o", fake], home, env=env)
            check_eq(r.rc, 0, "digikam csv -o a character device")
            check(stat.S_ISCHR(os.lstat(fake).st_mode), "the character device is still a character device")
            check(not [n for n in os.listdir(tmp) if n.startswith(".fakenull")], "no temp file beside the device")
            r = run(["facecat-report", "--out", fake], home, env=env)
            check(r.rc == 2 and stat.S_ISCHR(os.lstat(fake).st_mode), "report --out a device is refused")
        else:
            print("note: not root: the mknod case is left out")
        fifo = os.path.join(tmp, "fifo.csv")
        os.mkfifo(fifo)
        got = []
        reader = threading.Thread(target=lambda: got.append(open(fifo, "rb").read()))
        reader.start()
        r = run(["facecat-digikam", "csv", "-o", fifo], home, env=env)
        reader.join(timeout=60)
        check_eq(r.rc, 0, "digikam csv -o a FIFO")
        check(stat.S_ISFIFO(os.lstat(fifo).st_mode), "the FIFO is still a FIFO")
        check(got and got[0].startswith(b"path,name,x,y,width,height"), "the CSV went through the FIFO")
        real = os.path.join(tmp, "real.csv")
        open(real, "w").write("old\n")
        link = os.path.join(tmp, "link.csv")
        os.symlink(real, link)
        r = run(["facecat-digikam", "csv", "-o", link], home, env=env)
        check_eq(r.rc, 0, "digikam csv -o a symlink")
        check(os.path.islink(link) and os.readlink(link) == real, "the symlink is still the same symlink")
        check(open(real, "rb").read().startswith(b"path,name"), "the file it points to was written through it")
        dangling = os.path.join(tmp, "dangling.csv")
        os.symlink(os.path.join(tmp, "nowhere", "x.csv"), dangling)
        r = run(["facecat-digikam", "csv", "-o", dangling], home, env=env)
        check(r.rc != 0 and os.path.islink(dangling) and b"symbolic link" in r.stderr,
              f"a symlink to nothing is refused and stays ({r.rc}, {r.stderr[-200:]!r})")
        r = run(["facecat-digikam", "csv", "-o", "-"], home, env=env)
        check(r.rc == 0 and r.stdout.startswith(b"path,name"), "-o - writes the CSV to stdout")

        # ---- inputs that used to get a wrong answer ---------------------------------------------------------------
        r = run(["facecat-scenes", PHOTO, "--no-catalog", "--out", frames], home)
        check(r.rc == 1 and b"not a video" in r.stderr and b"facecat-detect" in r.stderr,
              f"scenes on a photo: exit 1, points to facecat-detect ({r.stderr[-300:]!r})")
        r = run(["facecat-scenes", os.path.join(photos, "obama.jpg")], home, env=env)
        check(r.rc == 1 and run(["facecat-catalog", "stats"], home, env=env).jsonl()[0]["files"].get("video") is None,
              "scenes on a photo with a catalog registers no video task")
        r = run(["facecat-catalog", "forget", os.path.join(photos, "obama.jpg")], home, env=env)
        check(r.rc == 1 and b"not a video" in r.stderr, f"forget on a photo: exit 1 ({r.stderr[-300:]!r})")
        r = run(["facecat-catalog", "ingest", photos], home, env=env)
        check(r.rc == 1 and b"a folder, not a JSONL file" in r.stderr, f"ingest of a folder: exit 1 ({r.stderr[-300:]!r})")
        r = run(["facecat-catalog", "stats", "--catalog", photos], home)
        check(r.rc == 3 and b"is a folder" in r.stderr, f"--catalog a folder: exit 3 ({r.stderr[-300:]!r})")
        r = run(["facecat-detect", video, "--no-crops"], home)
        check(r.rc == 1 and b"facecat-scenes" in r.stderr, f"detect on a video points to facecat-scenes ({r.stderr[-300:]!r})")
        empty = os.path.join(tmp, "empty.jpg")
        open(empty, "wb").close()
        r = run(["facecat-detect", empty, "--no-crops"], home)
        check(r.rc == 1 and b"empty file" in r.stderr, f"detect on a zero-byte file says 'empty file' ({r.stderr[-300:]!r})")

        # ---- warnings: a usable photo with corrupt EXIF flows from scan to detect --stdin ----------------------
        wp = os.path.join(tmp, "warn")
        os.makedirs(wp)
        jpg = open(PHOTO, "rb").read()
        open(os.path.join(wp, "bad-exif.jpg"), "wb").write(with_exif(jpg, tiff_block([(0x0112, 3, 1, short(9))])))
        shutil.copyfile(TWO, os.path.join(wp, "good.jpg"))
        wcat = os.path.join(tmp, "warn.db")
        for i in range(2):
            r = run(["facecat-scan", wp, "--catalog", wcat], home)
            check_eq(r.rc, 0, f"scan with a corrupt-EXIF photo exits 0 (run {i + 1})")
            if i == 0:
                evs = r.jsonl()
                warn = [e for e in evs if e["event"] == "warning"]
                check(len(warn) == 1 and warn[0]["change"] == "new" and "orientation 9" in warn[0]["reason"]
                      and warn[0]["kind"] == "image", f"one warning event for it ({warn})")
                check(not [e for e in evs if e["event"] == "error"], "no error event")
                d = run(["facecat-detect", "--stdin", "--no-crops"], home, stdin=r.stdout, env={"FACECAT_MIN_FACE": "90"})
                files = {os.path.basename(x["path"]) for x in d.jsonl() if x["event"] != "pipeline"}
                check_eq(files, {"bad-exif.jpg", "good.jpg"}, "scan | detect --stdin gives a record for every image")
        st = run(["facecat-catalog", "stats", "--catalog", wcat], home).jsonl()[0]
        check_eq((st["files"]["image"]["with_error"], st["files"]["image"]["with_warning"]), (0, 1),
                 "stats counts it under with_warning, not with_error")
        # an unusable file keeps failing the scan, run after run
        open(os.path.join(wp, "broken.jpg"), "wb").write(jpg[: len(jpg) // 2])
        for i in range(2):
            r = run(["facecat-scan", wp, "--catalog", wcat], home)
            check(r.rc == 1 and len(r.events("error")) == 1, f"a broken photo fails every scan (run {i + 1}: {r.rc})")
    finish()


if __name__ == "__main__":
    main()
