"""--show-config: every layer of the precedence, end to end (ccache's config.bash)."""
import os

from facecat_test import Case, TempDir, check, check_locale, finish, run

check_locale()
with TempDir() as tmp:
    home = os.path.join(tmp, "home")
    ini = os.path.join(tmp, "config.ini")
    with open(ini, "w") as f:
        f.write("[scan]\nRootPathForScanning = /photos\nthreads = 3\n[faces]\nmin_face = 60\n[bogus]\nx = 1\n")

    def show(args, env=None, cwd=None):
        r = run(["facecat-scan", "--show-config"] + args, home, env=env, cwd=cwd)
        check(r.rc == 0, f"--show-config {args} exits 0")
        return r.stdout.decode(), r.stderr.decode()

    out, _ = show([])
    check("(default) scan.threads = 0" in out, "default layer")
    check(f"(default) catalog.path = {home}/.local/share/facecat/catalog.db" in out, "default catalog under XDG_DATA_HOME")
    out, err = show(["--config", ini])
    check(f"({ini}:3) scan.threads = 3" in out, "config.ini layer with file:line")
    check(f"({ini}:2) scan.RootPathForScanning = /photos" in out, "RootPathForScanning from config.ini")
    check("unknown key 'x' in [bogus]" in err, "unknown keys are named on stderr")
    out, _ = show(["--config", ini], env={"FACECAT_THREADS": "4"})
    check("(environment FACECAT_THREADS) scan.threads = 4" in out, "environment beats config.ini")
    out, _ = show(["--config", ini, "-j", "7"], env={"FACECAT_THREADS": "4"})
    check("(command line) scan.threads = 7" in out, "flag beats environment")
    out, _ = show([], env={"FACECAT_CONFIG": ini})
    check(f"({ini}:5) faces.min_face = 60" in out, "FACECAT_CONFIG finds the file")
    out, _ = show([], cwd=tmp)
    check(f"({ini}:5) faces.min_face = 60" in out, "./config.ini is found")
    xdg = os.path.join(home, ".config", "facecat")
    os.makedirs(xdg)
    with open(os.path.join(xdg, "config.ini"), "w") as f:
        f.write("[faces]\nupsample = 1\n")
    out, _ = show([])
    check(f"({xdg}/config.ini:2) faces.upsample = 1" in out, "the XDG config dir is found")
    out, _ = show(["--set", "faces.crop_margin=0.5"])
    check("(command line) faces.crop_margin = 0.5" in out, "--set overrides any key")
    Case("bad boolean in env", ["facecat-scan", "--show-config"], exit=2, env={"FACECAT_SCAN_FOLLOW_SYMLINKS": "maybe"},
         stderr_contains="is not a boolean").run(home)
    Case("missing --config file", ["facecat-scan", "--show-config", "--config", "/nonexistent.ini"], exit=2,
         stderr_contains="cannot read config file").run(home)
    out, _ = show([], env={"VKAPPS_TOKEN": "sekrit-token"})
    check("sekrit-token" not in out and "vk.token = ******** (set)" in out, "tokens are masked in --show-config")
finish()
