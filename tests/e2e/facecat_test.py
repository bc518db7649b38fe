"""Harness for facecat's end-to-end tests: the real binaries, a cleared environment, real files.

Conventions (ccache's test/run, Exiv2's system tests):
- Every test is a script tests/e2e/test_*.py that CTest runs twice: LC_ALL=C.UTF-8 and LC_ALL=de_DE.UTF-8.
- The environment is cleared: only PATH, HOME (a temp dir), LC_ALL and what the test passes reach the tool.
- skip(reason) exits 125, which CTest reports as skipped (missing test data, a missing locale).
- Declarative cases: Case(cmd=[...], stdin=..., stdout=..., exit=...) compare exact stdout and exit code.
"""
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile

BIN_DIR = os.path.abspath(os.environ.get("FACECAT_BIN_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "build")))
TESTDATA = os.environ.get("FACECAT_TESTDATA", os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "testdata"))
LOCALE = os.environ.get("FACECAT_TEST_LOCALE", "C.UTF-8")

_failures = []


def skip(reason):
    print(f"SKIPPED: {reason}")
    sys.exit(125)


def need_testdata(*parts):
    p = os.path.join(TESTDATA, *parts)
    if not os.path.exists(p):
        skip(f"test data {p} is absent (expected ../shared/testdata beside the repository)")
    return p


def need_program(name):
    p = shutil.which(name)
    if not p:
        skip(f"{name} is not installed (scripts/setup installs it)")
    return p


def check_locale():
    if LOCALE in ("C", "C.UTF-8", "POSIX"):
        return
    out = subprocess.run(["locale", "-a"], capture_output=True, text=True).stdout.lower().replace("-", "")
    if LOCALE.lower().replace("-", "") not in out.split():
        skip(f"locale {LOCALE} is not generated (scripts/setup generates it)")


def tool(name):
    p = os.path.join(BIN_DIR, name)
    if not os.path.exists(p):
        raise SystemExit(f"{p} was not built")
    return p


class TempDir:
    def __init__(self, prefix="facecat-e2e-"):
        self.path = tempfile.mkdtemp(prefix=prefix)
        os.makedirs(os.path.join(self.path, "home"), exist_ok=True)

    def __enter__(self):
        return self.path

    def __exit__(self, *a):
        if not os.environ.get("FACECAT_KEEP_TMP"):
            shutil.rmtree(self.path, ignore_errors=True)


def clean_env(home, extra=None):
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": home,
        "LC_ALL": LOCALE,
        "XDG_CONFIG_HOME": os.path.join(home, ".config"),
        "XDG_DATA_HOME": os.path.join(home, ".local", "share"),
        "FACECAT_MODELS_DIR": os.environ.get("FACECAT_MODELS_DIR", ""),
        "OPENBLAS_NUM_THREADS": "1",
    }
    if not env["FACECAT_MODELS_DIR"]:
        del env["FACECAT_MODELS_DIR"]
    # Sanitizer settings (set by CTest) reach the tools: a sanitizer report then exits >= 128.
    for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
        if os.environ.get(k):
            env[k] = os.environ[k]
    if extra:
        env.update(extra)
    return env


class Result:
    def __init__(self, proc):
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr

    def jsonl(self):
        out = []
        for line in self.stdout.decode("utf-8").splitlines():
            if line.strip():
                out.append(json.loads(line))
        return out

    def events(self, kind):
        return [e for e in self.jsonl() if e.get("event") == kind]


def run(args, home, stdin=None, env=None, cwd=None, timeout=600):
    """Run a facecat tool (args[0] is a tool name or a path) with a cleared environment."""
    argv = list(args)
    if not os.path.sep in argv[0]:
        argv[0] = tool(argv[0])
    proc = subprocess.run(argv, input=stdin.encode() if isinstance(stdin, str) else stdin,
                          capture_output=True, env=clean_env(home, env), cwd=cwd or home, timeout=timeout)
    return Result(proc)


def check(cond, what):
    if cond:
        print(f"ok: {what}")
    else:
        print(f"FAIL: {what}")
        _failures.append(what)
    return cond


def check_eq(got, want, what):
    return check(got == want, f"{what}: got {got!r}, want {want!r}" if got != want else what)


class Case:
    """A declared case: command, stdin, expected stdout (exact, or a callable), expected exit code."""

    def __init__(self, name, cmd, exit=0, stdin=None, stdout=None, stderr_contains=None, env=None):
        self.name, self.cmd, self.exit, self.stdin = name, cmd, exit, stdin
        self.stdout, self.stderr_contains, self.env = stdout, stderr_contains, env

    def run(self, home, subst=None):
        cmd = [c.format(**(subst or {})) for c in self.cmd]
        r = run(cmd, home, stdin=self.stdin, env=self.env)
        check_eq(r.rc, self.exit, f"{self.name}: exit code")
        if self.stdout is not None:
            out = r.stdout.decode("utf-8", "replace")
            if callable(self.stdout):
                check(self.stdout(out), f"{self.name}: stdout matches ({out[:200]!r})")
            else:
                want = self.stdout.format(**(subst or {}))
                check_eq(out, want, f"{self.name}: stdout")
        if self.stderr_contains is not None:
            err = r.stderr.decode("utf-8", "replace")
            want = self.stderr_contains.format(**(subst or {}))
            check(want in err, f"{self.name}: stderr contains {want!r} (stderr: {err[-300:]!r})")
        return r


def path_of(event, key="path"):
    """The raw bytes of a path field (path_b64 wins for names that are not UTF-8)."""
    if key + "_b64" in event:
        return base64.b64decode(event[key + "_b64"])
    return event[key].encode("utf-8")


def finish():
    if _failures:
        print(f"{len(_failures)} check(s) failed")
        sys.exit(1)
    print("all checks passed")
    sys.exit(0)
