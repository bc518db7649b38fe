"""Workers in one command: scripts/facecat-parallel --setup against the loopback sshd of the distributed test.

What it exercises, honestly: the two real packages (facecat_*.deb, facecat-models_*.deb, made by cpack from this
build) are copied over ssh to each worker and installed by the worker's install command. A test cannot run apt on
the real machine, so the install command here is `dpkg-deb -x` into a prefix (the worker's own root), and the
worker sessions find the tools in <prefix>/usr/bin ([cluster] remote_bin) and the models in
<prefix>/usr/share/facecat/models through XDG_DATA_DIRS (the search's system step; /usr/share by default).
scripts/test-packages installs the same packages with apt in a real Debian 12 root.

- worker a gets the packages and reports this build's version and the pipeline's model ids: ok;
- worker c (a second sshd whose sessions set faces.recognition_model to another model) is named, with how it
  differs (its descriptor model id against the pipeline's), and --setup exits 5;
- that worker is refused before it describes anything: the distributed detect on it stores nothing, exit 5, host
  named, and its facecat-detect said which model the pipeline wants;
- --setup on worker a alone exits 0, and --check-only installs nothing.
"""
import glob
import json
import os
import shutil
import subprocess
import time

from catalog_compare import rows
from detect_fixture import env_for, make_tree
from facecat_test import BIN_DIR, LOCALE, TempDir, check, check_eq, check_locale, finish, run, skip
from sshd_fixture import Sshd, need_sshd

check_locale()
need_sshd()
MODELS = os.environ.get("FACECAT_MODELS_DIR", "")
if not os.path.isfile(os.path.join(MODELS, "face-api", "model", "face_recognition_model.bin")):
    skip("FACECAT_MODELS_DIR has no models (scripts/setup fetches them)")
if not shutil.which("dpkg-deb") or not shutil.which("cpack"):
    skip("dpkg-deb or cpack is missing")
SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts", "facecat-parallel")
t0 = time.monotonic()


def packages(tmp):
    """This build's packages: those scripts/test-packages left in <build>/packages when they are newer than every
    tool and library of the build, else cpack into a temp folder (they must be of this build)."""
    made = os.path.join(BIN_DIR, "packages")
    debs = sorted(glob.glob(os.path.join(made, "facecat*.deb")))
    built = [os.path.getmtime(p) for p in glob.glob(os.path.join(BIN_DIR, "facecat-*")) +
             glob.glob(os.path.join(BIN_DIR, "lib", "libfacecat*.so*"))]
    if len(debs) == 2 and built and min(os.path.getmtime(d) for d in debs) > max(built):
        return made, debs
    out = os.path.join(tmp, "pkgs")
    r = subprocess.run(["cpack", "-G", "DEB", "--config", os.path.join(BIN_DIR, "CPackConfig.cmake"), "-B", out],
                       capture_output=True, cwd=BIN_DIR)
    if r.returncode:
        raise SystemExit(f"cpack failed: {r.stdout[-2000:]!r} {r.stderr[-2000:]!r}")
    debs = sorted(glob.glob(os.path.join(out, "*.deb")))
    if not any(os.path.basename(d).startswith("facecat-models_") for d in debs):
        skip("cpack made no facecat-models package (FACECAT_MODELS_DIR had no models at cmake time)")
    return out, debs


with TempDir() as tmp:
    home = os.path.join(tmp, "home")
    t_pack = time.monotonic()
    pkgdir, debs = packages(tmp)
    t_pack = time.monotonic() - t_pack
    print(f"figures: packages ({'from ' + pkgdir if not pkgdir.startswith(tmp) else 'cpack'}) {t_pack:.1f} s: " + ", ".join(f"{os.path.basename(d)} {os.path.getsize(d) // 1024} KiB"
                                                            for d in debs))
    photos = os.path.join(tmp, "photos")
    make_tree(photos)
    env = env_for(tmp)
    cat = os.path.join(tmp, "c.db")
    r = run(["facecat-scan", "--catalog", cat, photos], home, env=env)
    check_eq(r.rc, 0, "scan")
    r = run(["facecat-catalog", "--catalog", cat, "pipeline", "show"], home, env=env)
    pipeline = json.loads(r.stdout)
    want_model = pipeline["params"]["model"]
    r = run(["facecat-detect", "--version"], home)
    version = r.stdout.decode().strip()

    prefix = os.path.join(tmp, "worker-root")
    other_dat = os.path.join(tmp, "other-model.dat")
    dats = glob.glob(os.path.join(MODELS, "cache", "*.dat"))
    if not dats:
        skip("no converted dlib .dat in FACECAT_MODELS_DIR/cache (facecat-detect makes it on first use)")
    shutil.copyfile(dats[0], other_dat)  # a real dlib model, with another id than the pipeline's
    session = {"HOME": os.path.join(tmp, "remote-home"), "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
               "LC_ALL": LOCALE, "XDG_DATA_HOME": os.path.join(tmp, "remote-home", ".local", "share"),
               "XDG_DATA_DIRS": os.path.join(prefix, "usr", "share"), "FACECAT_DETECT_THREADS": "1",
               "OPENBLAS_NUM_THREADS": "1"}
    os.makedirs(os.path.join(tmp, "remote-home"))
    os.makedirs(os.path.join(tmp, "s2"))
    with Sshd(tmp, ["a"], session) as sshd, \
            Sshd(os.path.join(tmp, "s2"), ["c"], dict(session, FACECAT_RECOGNITION_MODEL=other_dat)) as sshd2:
        with open(sshd.config, "a") as f:  # host c (the second sshd) in the same ssh_config
            f.write(f"Host c\n  HostName 127.0.0.1\n  Port {sshd2.port}\n  IdentityFile {sshd2.dir}/user_key\n"
                    f"  IdentitiesOnly yes\n  IdentityAgent none\n  HostKeyAlias facecat-test-sshd\n"
                    f"  UserKnownHostsFile {sshd2.dir}/known_hosts\n  GlobalKnownHostsFile /dev/null\n"
                    f"  StrictHostKeyChecking yes\n  BatchMode yes\n  LogLevel ERROR\n")
        install = f'for d; do dpkg-deb -x "$d" {prefix} || exit 1; done'
        cluster = dict(env, FACECAT_BIN_DIR=BIN_DIR, FACECAT_CLUSTER_HOSTS="a,c", FACECAT_CLUSTER_SSH=sshd.ssh_command(),
                       FACECAT_CLUSTER_REMOTE_BIN=os.path.join(prefix, "usr", "bin"), FACECAT_CLUSTER_CHUNK="5")

        r = run([SCRIPT, "--catalog", cat, "--setup", "--check-only"], home, env=cluster)
        check(r.rc == 5 and not os.path.exists(prefix),
              f"--check-only before any install: the workers lack the tools, exit 5, nothing installed ({r.rc})")

        r = run([SCRIPT, "--catalog", cat, "--setup", "--packages", pkgdir, "--install-command", install], home,
                env=cluster)
        ev = {e["host"]: e for e in r.events("worker")}
        err = r.stderr.decode()
        check(r.rc == 5, f"--setup with a mismatched worker: exit 5 ({r.rc}, {err[-500:]!r})")
        a = ev.get("a", {})
        check(a.get("ok") is True and a.get("version") == version and a.get("model") == want_model and
              sorted(a.get("installed", [])) == sorted(os.path.basename(d) for d in debs),
              f"worker a: both packages copied and installed, same version and model ids ({a})")
        check(os.path.isfile(os.path.join(prefix, "usr", "bin", "facecat-detect")) and
              os.path.isfile(os.path.join(prefix, "usr", "share", "facecat", "models", "SHA256SUMS")),
              "the packages' files are on the worker (tools and models)")
        c = ev.get("c", {})
        check(c.get("ok") is False and c.get("model", "").startswith("dlib-dat-") and
              any(want_model in d and "descriptor model" in d for d in c.get("differs", [])) and
              "worker c: its descriptor model is dlib-dat-" in err,
              f"worker c is named, with how it differs ({c}, {err[-300:]!r})")
        r2 = r.events("setup")
        check(r2 and r2[0]["refused"] == ["c"], f"the summary names the refused worker ({r2})")

        # The mismatched worker is refused before it describes anything (facecat-detect checks the model id).
        r = run([SCRIPT, "--catalog", cat], home, env=dict(cluster, FACECAT_CLUSTER_HOSTS="c"))
        err = r.stderr.decode()
        check(r.rc == 5 and "c:" in err and f"uses model {want_model}" in err,
              f"a distributed run on worker c: exit 5, host named, its facecat-detect refused the pipeline's model "
              f"({r.rc}, {err[-600:]!r})")
        check_eq(rows(cat, "SELECT count(*) FROM detections")[0][0], 0, "worker c described nothing")

        r = run([SCRIPT, "--catalog", cat, "--setup", "--check-only"], home, env=dict(cluster, FACECAT_CLUSTER_HOSTS="a"))
        check(r.rc == 0 and r.events("worker") and r.events("worker")[0]["ok"] is True and
              "installed" not in r.events("worker")[0], f"--setup --check-only on worker a: exit 0 ({r.rc})")
        r = run([SCRIPT, "--catalog", cat], home, env=dict(cluster, FACECAT_CLUSTER_HOSTS="a"))
        summary = r.events("distributed")
        check(r.rc == 0 and summary and summary[0]["exit"] == 0 and
              rows(cat, "SELECT count(*) FROM detections")[0][0] == summary[0]["pending_count"],
              f"worker a, set up from the packages, detects for the catalog ({r.rc}, {r.stderr[-400:]!r})")
    print(f"test time: {time.monotonic() - t0:.1f} s")

finish()
