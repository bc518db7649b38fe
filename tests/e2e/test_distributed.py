"""Distributed detect through scripts/facecat-parallel: a throwaway sshd on a loopback port, two "hosts" (two
aliases of it; host b sees the shared mount at another path, a symlink, through [cluster] path_map), GNU parallel
-S a,b. The catalog it builds equals a local run's: same faces, boxes and descriptors bit for bit, same crops.
Also: facecat-detect --path-map maps input paths and maps file/crop paths back; a worker that reads different
content than the catalog means stores nothing; a re-run has nothing to do; no hosts, a bad path_map (exit 2), a
held lock (exit 3) and an unreachable host (exit 5) give clear errors and leave the catalog unchanged."""
import fcntl
import json
import os
import pwd
import time

from catalog_compare import check_same_results, make_subset, rows, scan_and_detect_local, snapshot
from detect_fixture import env_for
from facecat_test import BIN_DIR, LOCALE, TempDir, check, check_eq, check_locale, finish, run
from sshd_fixture import Sshd, free_port, need_sshd

check_locale()
need_sshd()
SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts", "facecat-parallel")
t0 = time.monotonic()
REAL_SSH = os.path.join(pwd.getpwuid(os.getuid()).pw_dir, ".ssh")


def real_ssh_state():
    """The real user's ~/.ssh (names, sizes, mtimes): the test must not touch it."""
    if not os.path.isdir(REAL_SSH):
        return None
    return sorted((n, os.stat(os.path.join(REAL_SSH, n)).st_size, os.stat(os.path.join(REAL_SSH, n)).st_mtime_ns)
                  for n in os.listdir(REAL_SSH))


ssh_before = real_ssh_state()

with TempDir() as tmp:
    home = os.path.join(tmp, "home")
    photos = os.path.join(tmp, "photos")
    crops = os.path.join(tmp, "crops")
    n_files = make_subset(photos)
    os.symlink(tmp, os.path.join(tmp, "mnt-b"))  # host b's mount point of the same storage
    env = env_for(tmp)

    # ---- the local run -------------------------------------------------------------------------------------------
    cats = scan_and_detect_local(tmp, home, env, photos, ("local", "dist", "dead"))

    def cat(name):
        return cats.get(name) or os.path.join(tmp, name + ".db")

    t_local = time.monotonic() - t0

    # ---- facecat-detect --path-map, directly -------------------------------------------------------------------
    h = rows(cat("dist"), "SELECT hash FROM files ORDER BY path LIMIT 2")
    name = sorted(os.listdir(photos))[0]
    away = os.path.join(tmp, "not-here")  # the catalog's view; this "host" reads the files under photos/
    work = (json.dumps({"path": f"{away}/{name}", "hash": h[0][0]}) + "\n" +
            json.dumps({"path": f"{away}/{name}", "hash": h[1][0]}) + "\n")
    r = run(["facecat-detect", "--stdin", "--path-map", f"{away}={photos}", "--path-map",
             f"{tmp}/elsewhere={tmp}/mnt-b", "--set", f"faces.CroppedFacesPath={tmp}/mnt-b/crops-direct"], home,
            stdin=work, env=env)
    recs = [x for x in r.jsonl() if x["event"] != "pipeline"]
    good = [x for x in recs if x["event"] != "error"]
    bad = [x for x in recs if x["event"] == "error"]
    check(r.rc == 1 and good and all(x["path"] == f"{away}/{name}" for x in recs),
          f"--path-map: the worker reads under TO, its records name the catalog's path ({r.rc}, {recs[:1]})")
    check(all(x["crop"].startswith(f"{tmp}/elsewhere/crops-direct/") for x in good if "crop" in x and x["crop"]),
          "--path-map: crop paths are mapped back")
    check(len(bad) == 1 and bad[0].get("retry") is True and h[1][0] in bad[0]["reason"] and "face_index" not in bad[0],
          f"content other than the catalog's (a wrong mapping) is refused by hash and not stored ({bad})")

    # What a worker session sees (sshd's SetEnv): the test's HOME and config, never the real user's.
    session = {"HOME": os.path.join(tmp, "remote-home"), "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
               "LC_ALL": LOCALE, "FACECAT_CONFIG": os.path.join(tmp, "worker.ini"), "FACECAT_DETECT_THREADS": "1",
               "OPENBLAS_NUM_THREADS": "1"}
    if os.environ.get("FACECAT_MODELS_DIR"):
        session["FACECAT_MODELS_DIR"] = os.environ["FACECAT_MODELS_DIR"]
    with Sshd(tmp, ["a", "b"], session) as sshd:
        os.makedirs(os.path.join(tmp, "remote-home"))
        with open(os.path.join(tmp, "worker.ini"), "w") as f:
            f.write("[faces]\nmin_face = 40\n")  # the worker's own config; the catalog's pipeline wins
        with open(sshd.config, "a") as f:  # a host nobody listens on
            f.write(f"Host dead\n  HostName 127.0.0.1\n  Port {free_port()}\n  BatchMode yes\n"
                    f"  ConnectTimeout 5\n  UserKnownHostsFile /dev/null\n")
        cluster = dict(env, FACECAT_BIN_DIR=BIN_DIR, FACECAT_CLUSTER_HOSTS="a,b", FACECAT_CLUSTER_CHUNK="5",
                       FACECAT_CLUSTER_REMOTE_BIN=BIN_DIR, FACECAT_CLUSTER_SSH=sshd.ssh_command(),
                       FACECAT_CLUSTER_PATH_MAP=f"b:{photos}={tmp}/mnt-b/photos,b:{crops}={tmp}/mnt-b/crops")

        r = run(["facecat-catalog", "--catalog", cat("dist"), "--show-config", "stats"], home, env=cluster)
        out = r.stdout.decode()
        check("(environment FACECAT_CLUSTER_PATH_MAP) cluster.path_map = b:" in out and
              "(environment FACECAT_CLUSTER_HOSTS) cluster.hosts = a,b" in out and "cluster.remote_bin" in out and
              "(default) cluster.jobs = 1" in out, "--show-config shows the [cluster] keys")

        # ---- errors before any worker starts ---------------------------------------------------------------------
        before = snapshot(cat("dist"))
        r = run([SCRIPT, "--catalog", cat("dist")], home, env=dict(cluster, FACECAT_CLUSTER_HOSTS=""))
        check(r.rc == 2 and b"no worker hosts" in r.stderr, f"no hosts: exit 2 ({r.rc}, {r.stderr[-200:]!r})")
        r = run([SCRIPT, "--catalog", cat("dist")], home, env=dict(cluster, FACECAT_CLUSTER_PATH_MAP="c:/x=/y"))
        check(r.rc == 2 and b"'c' is not one of [cluster] hosts" in r.stderr, f"path_map of an unknown host: exit 2 ({r.rc})")
        r = run([SCRIPT, "--catalog", cat("dist")], home, env=dict(cluster, FACECAT_CLUSTER_PATH_MAP="b:x=/y"))
        check(r.rc == 2 and b"expected HOST:/FROM=/TO" in r.stderr, f"a malformed path_map: exit 2 ({r.rc})")
        fd = os.open(cat("dist") + ".lock", os.O_RDWR | os.O_CREAT)
        os.write(fd, b"pid 1 on the-test\n")
        fcntl.flock(fd, fcntl.LOCK_EX)
        r = run([SCRIPT, "--catalog", cat("dist")], home, env=cluster)
        os.close(fd)
        check(r.rc == 3 and b"being written by another process (pid 1 on the-test)" in r.stderr,
              f"the writer lock is held: exit 3 ({r.rc}, {r.stderr[-200:]!r})")
        r = run([SCRIPT, "--catalog", cat("dead")], home, env=dict(cluster, FACECAT_CLUSTER_HOSTS="dead",
                                                                      FACECAT_CLUSTER_PATH_MAP=""))
        summary = r.events("distributed")
        check(r.rc == 5 and b"dead:" in r.stderr and summary and summary[0]["failed_jobs"].get("dead"),
              f"an unreachable host: exit 5, named ({r.rc}, {r.stderr[-300:]!r})")
        check_eq(rows(cat("dead"), "SELECT count(*) FROM detections")[0][0], 0, "an unreachable host stores nothing")
        check(snapshot(cat("dist")) == before, "the catalog is unchanged after the errors")

        # ---- the distributed run ------------------------------------------------------------------------------------
        t1 = time.monotonic()
        r = run([SCRIPT, "--catalog", cat("dist")], home, env=cluster)
        t_dist = time.monotonic() - t1
        check_eq(r.rc, 0, f"facecat-parallel: exit code ({r.stderr[-3000:]!r})")
        summary = r.events("distributed")
        ingest = r.events("ingest")
        check(summary and summary[0]["pending_count"] == n_files - 1 and summary[0]["exit"] == 0,
              f"the summary ({summary})")
        jobs = summary[0]["jobs"] if summary else {}
        check(jobs.get("a", 0) > 0 and jobs.get("b", 0) > 0 and not summary[0]["failed_jobs"],
              f"both hosts ran jobs, none failed ({jobs})")
        check(ingest and ingest[0]["detection_count"] == n_files - 1 and ingest[0]["bad_line_count"] == 0,
              f"ingest stored every content once ({ingest})")
        total, same = check_same_results(cat("dist"), cat("local"), "distributed == local")
        print(f"figures: distributed run {t_dist:.1f} s (local detect {t_local:.1f} s incl. scans), "
              f"{total} faces compared, {same} descriptors bit-identical, jobs per host {jobs}")
        check(all(p.startswith(os.fsencode(crops) + b"/") for (p,) in
                  rows(cat("dist"), "SELECT crop_path FROM faces")), "crop paths are the catalog's (mapped back)")
        r = run(["facecat-catalog", "--catalog", cat("dist"), "check"], home)
        check_eq(r.rc, 0, "the catalog checks clean")

        after = snapshot(cat("dist"))
        r = run([SCRIPT, "--catalog", cat("dist")], home, env=cluster)
        summary = r.events("distributed")
        check(r.rc == 0 and summary and summary[0]["pending_count"] == 0 and snapshot(cat("dist")) == after,
              f"a re-run has nothing to do ({r.rc}, {summary})")
    check(real_ssh_state() == ssh_before, f"the real user's {REAL_SSH} is untouched")

    print(f"test time: {time.monotonic() - t0:.1f} s")

finish()
