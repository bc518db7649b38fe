"""The progress bar on a real terminal (issue 13): tmux runs the tools in a 200×50 pane, and capture-pane shows the
screen mid-run and at the end.

- mid-run: facecat-detect --stdin reads its paths from a FIFO that this test holds open, so the run is blocked,
  deterministically, after the paths written so far; the screen then shows the error line of the broken file above
  the bar, and the bar (count, rate, the current file) on the last line, each on its own line;
- at the end (the FIFO closed): the bar is gone; only the error line and the final summary are left.
- facecat-scan of a folder: at the end only the broken file's log line and the summary are left; with stdout on
  the terminal too, every record line is whole.

Nothing here waits for a time: every wait polls for something to appear on the screen (or the pane to end), with one
generous deadline that only fails when it never appears.
"""
import os
import re
import shlex
import shutil
import subprocess
import time

from facecat_test import (TempDir, check, check_eq, check_locale, clean_env, finish, need_program, need_testdata, skip,
                          tool)

check_locale()
faces = need_testdata("faces")
if (os.cpu_count() or 1) < 2:
    # detect's reader blocks in the FIFO on one thread; the files read so far need a second one (TBB's worker).
    skip("the mid-run screen needs two CPUs")
tmux = need_program("tmux")
DEADLINE = 120  # seconds; only reached when the awaited screen never comes


class Pane:
    def __init__(self, sock, cmd, env, cwd):
        self.sock = sock
        envs = " ".join(shlex.quote(f"{k}={v}") for k, v in env.items())
        shell = f"cd {shlex.quote(cwd)} && exec env -i {envs} {cmd}"
        conf = sock + ".conf"  # the pane stays after its command ends, so the final screen can be read
        with open(conf, "w") as f:
            f.write("set -g remain-on-exit on\n")
        self.tmux("-f", conf, "new-session", "-d", "-s", "t", "-x", "200", "-y", "50", "sh", "-c", shell)

    def tmux(self, *args):
        return subprocess.run([tmux, "-S", self.sock] + list(args), check=True, capture_output=True,
                              text=True).stdout

    def lines(self):
        # -J: a wrapped line comes back whole; -S -: the scrollback too, so a line scrolled away is still seen
        out = self.tmux("capture-pane", "-p", "-J", "-S", "-", "-t", "t")
        return [l.rstrip() for l in out.splitlines() if l.strip() and not l.startswith("Pane is dead")]

    def dead(self):
        return self.tmux("display-message", "-p", "-t", "t", "#{pane_dead}").strip() == "1"

    def wait_for(self, what, pred):
        end = time.monotonic() + DEADLINE
        while time.monotonic() < end:
            lines = self.lines()
            if pred(lines):
                return lines
            time.sleep(0.05)  # a poll interval, not a wait for something to happen
        lines = self.lines()
        check(False, f"{what} within {DEADLINE} s (screen: {lines!r})")
        return lines

    def close(self):
        subprocess.run([tmux, "-S", self.sock, "kill-server"], capture_output=True)


BAR = re.compile(r"^detect \d+ [0-9.]+/s")


def open_fifo_for_writing(path):
    """Opens the FIFO once the tool's shell has opened it for reading (polls; ENXIO means no reader yet)."""
    end = time.monotonic() + DEADLINE
    while True:
        try:
            return os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:
            if time.monotonic() > end:
                raise
            time.sleep(0.05)


with TempDir() as tmp:
    home = os.path.join(tmp, "home")
    photos = os.path.join(tmp, "photos")
    os.makedirs(photos)
    good = os.path.join(photos, "obama.jpg")
    shutil.copy(os.path.join(faces, "face_recognition/obama/obama.jpg"), good)
    shutil.copy(os.path.join(faces, "face_recognition/biden/biden.jpg"), os.path.join(photos, "biden.jpg"))
    broken = os.path.join(photos, "broken.jpg")
    with open(broken, "wb") as f:
        f.write(b"\xff\xd8\xff\xe0 this is not a JPEG")
    env = clean_env(home, {"TERM": "screen"})

    # --- detect, blocked on its input mid-run ------------------------------------------------------------------
    fifo = os.path.join(tmp, "paths.fifo")
    os.mkfifo(fifo)
    out = os.path.join(tmp, "out.jsonl")
    cmd = f"{shlex.quote(tool('facecat-detect'))} --stdin --no-crops -j 2 < {shlex.quote(fifo)} > {shlex.quote(out)}"
    pane = Pane(os.path.join(tmp, "tmux.sock"), cmd, env, home)
    try:
        fd = open_fifo_for_writing(fifo)
        os.set_blocking(fd, True)
        os.write(fd, f"{broken}\n{good}\n".encode())
        lines = pane.wait_for("the error line and a bar that counts both files",
                              lambda ls: any("facecat-detect: error:" in l for l in ls)
                              and bool(ls) and BAR.match(ls[-1]) and ls[-1].startswith("detect 2 "))
        check_eq(len(lines), 2, f"mid-run: two lines on the screen, the error line and the bar ({lines!r})")
        if len(lines) == 2:
            check(lines[0].startswith(f"facecat-detect: error: {broken}: "), f"the error line is whole ({lines[0]!r})")
            check(BAR.match(lines[1]) is not None and lines[1].endswith("/photos/obama.jpg"),
                  f"the bar is below it: count, rate and the current file ({lines[1]!r})")
            check(not BAR.search(lines[0]) and "error" not in lines[1], "no line holds both the bar and the log line")
        os.close(fd)  # end of input: the run finishes
        pane.wait_for("the end of the run", lambda ls: pane.dead())
        lines = pane.lines()
        check_eq(len(lines), 3, f"at the end: the error line and the summary's two lines ({lines!r})")
        if len(lines) == 3:
            check(lines[0].startswith(f"facecat-detect: error: {broken}: "), "the error line stays")
            check(re.match(r"^facecat-detect: info: 2 file\(s\), 1 face\(s\), 1 error\(s\) in ", lines[1]) is not None,
                  f"then the summary where the bar was: no bar is left behind ({lines[1]!r})")
            check(lines[2].startswith("facecat-detect: info: per file (thread time): "), "and the timing line")
        check(not any(BAR.search(l) or "[" in l and "/s" in l for l in lines), "no stale bar anywhere")
    finally:
        pane.close()

    # --- scan of a folder: nothing but the summary is left -------------------------------------------------------
    cat = os.path.join(tmp, "cat.db")
    cmd = f"{shlex.quote(tool('facecat-scan'))} --catalog {shlex.quote(cat)} {shlex.quote(photos)} > /dev/null"
    pane = Pane(os.path.join(tmp, "tmux2.sock"), cmd, env, home)
    try:
        pane.wait_for("the end of the scan", lambda ls: pane.dead())
        lines = pane.lines()
        check(len(lines) == 2 and lines[0].startswith(f"facecat-scan: warning: {broken}: ")
              and re.match(r"^facecat-scan: info: 3 files: 2 new, 0 changed, 0 moved, 0 missing, 1 errors, 0 warnings, "
                           r"0 unchanged, 0 skipped in ", lines[1]) is not None,
              f"scan: only the broken file's line and the summary are left ({lines!r})")
    finally:
        pane.close()

    # --- records on a terminal stdout go above the bar too: every line is whole ---------------------------------------
    cmd = f"{shlex.quote(tool('facecat-scan'))} --all --catalog {shlex.quote(cat)} {shlex.quote(photos)}"
    pane = Pane(os.path.join(tmp, "tmux3.sock"), cmd, env, home)
    try:
        pane.wait_for("the end of the second scan", lambda ls: pane.dead())
        lines = pane.lines()
        # on a terminal each record is one summary line that starts with its event (core/format's summary_line)
        records = [l for l in lines if l.split(" ", 1)[0] in ("unchanged", "error")]
        check_eq(len(records), 3, f"one record per file on the terminal ({lines!r})")
        for l in records:
            check("path=" + photos in l, f"a whole record: {l[:120]!r}")
        check(all(l in records or l.startswith("facecat-scan: ") for l in lines), f"no line is mixed ({lines!r})")
        check(bool(lines) and lines[-1].startswith("facecat-scan: info: 3 files: "), "the summary comes last")
    finally:
        pane.close()
finish()
