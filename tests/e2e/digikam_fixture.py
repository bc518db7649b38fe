"""Shared set-up for the facecat-digikam end-to-end tests: real JPEGs, a real catalog, faces added with SQL.

Faces come from facecat-detect in real use; these tests insert detections, people and faces rows directly
into a catalog that facecat-scan built (so files rows are real), with the real schema.
"""
import os
import shutil
import sqlite3
import subprocess
import time

from facecat_test import need_program, need_testdata, run, check_eq

SOURCE_PHOTO = ("faces", "face_recognition", "rose_leslie", "img1.jpg")


def make_photos(folder, specs):
    """specs: {relative name: orientation}. Each photo is a real 1000x800 JPEG (scaled from the test data with
    ffmpeg) with its EXIF orientation set by exiftool; every file gets its own comment so hashes differ."""
    need_program("ffmpeg")
    need_program("exiftool")
    src = need_testdata(*SOURCE_PHOTO)
    os.makedirs(folder, exist_ok=True)
    base = os.path.join(folder, ".base.jpg")
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", src, "-vf", "scale=1000:800", "-q:v", "5", base],
                   check=True)
    for name, orientation in specs.items():
        p = os.path.join(folder, name)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        shutil.copy(base, p)
        subprocess.run(["exiftool", "-q", "-overwrite_original", f"-Orientation#={orientation}", "-n",
                        f"-Comment=facecat test {name}", p], check=True)
    os.remove(base)


def scan(home, catalog, folder):
    r = run(["facecat-scan", "--catalog", catalog, folder], home)
    check_eq(r.rc, 0, f"facecat-scan {folder}")


def add_faces(catalog, faces, pipeline_version="v1", configure=True, processed_at=None):
    """faces: {absolute path: [(x, y, w, h, name or None, assignment, person status)]} in display-frame pixels."""
    db = sqlite3.connect(catalog)
    now = processed_at or int(time.time())
    if configure:
        db.execute("INSERT OR REPLACE INTO pipelines (name, params, version, updated_at) VALUES ('default', '{}', ?, ?)",
                   (pipeline_version, now))
    people = {}
    for path, boxes in faces.items():
        row = db.execute("SELECT hash, width, height, orientation FROM files WHERE path = ?",
                         (path.encode(),)).fetchone()
        assert row, f"{path} is not in the catalog"
        h, w, ht, o = row
        dw, dh = (ht, w) if (o or 1) >= 5 else (w, ht)
        db.execute("INSERT OR REPLACE INTO detections (file_hash, pipeline_version, model_id, n_faces, width, height, "
                   "processed_at) VALUES (?, ?, 'test-model', ?, ?, ?, ?)", (h, pipeline_version, len(boxes), dw, dh, now))
        db.execute("DELETE FROM faces WHERE file_hash = ? AND pipeline_version = ?", (h, pipeline_version))
        for i, (x, y, bw, bh, name, assignment, status) in enumerate(boxes):
            pid = None
            if name is not None:
                key = (name, status)
                if key not in people:
                    cur = db.execute("INSERT INTO people (name, status, created_at, updated_at) VALUES (?, ?, ?, ?)",
                                     (name, status, now, now))
                    people[key] = cur.lastrowid
                pid = people[key]
            db.execute("INSERT INTO faces (file_hash, pipeline_version, face_index, model_id, x, y, w, h, person_id, "
                       "assignment, created_at) VALUES (?, ?, ?, 'test-model', ?, ?, ?, ?, ?, ?, ?)",
                       (h, pipeline_version, i, x, y, bw, bh, pid, assignment, now))
    db.commit()
    db.close()


class FakeDigikam:
    """A process named "digikam" (prctl PR_SET_NAME) that holds `holding` open, as the real digiKam holds its
    databases. Starts when entered (returns once the file is open), ends when its stdin closes: no clock involved."""
    SRC = ("import ctypes, sys\n"
           "ctypes.CDLL(None).prctl(15, b'digikam', 0, 0, 0)\n"
           "f = open(sys.argv[1], 'rb')\n"
           "print('ready', flush=True)\n"
           "sys.stdin.read()\n")

    def __init__(self, holding):
        self.holding = holding

    def __enter__(self):
        import sys
        self.proc = subprocess.Popen([sys.executable, "-c", self.SRC, self.holding], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE)
        line = self.proc.stdout.readline().strip()
        if line != b"ready":
            raise RuntimeError(f"the digiKam stand-in did not start ({line!r})")
        return self.proc

    def __exit__(self, *exc):
        self.proc.stdin.close()
        self.proc.wait()
        return False
