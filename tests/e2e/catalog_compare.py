"""Shared by the distributed and shard tests: a small photo set, and comparing two catalogs' results with SQL."""
import os
import shutil
import sqlite3

from detect_fixture import photo
from facecat_test import check, check_eq, run

# Ten small photos (one with two faces), about 1 MB in all, plus a duplicate of one of them under another name.
SUBSET = [("obama", "obama_small.jpg"), ("obama", "obama-240p.jpg"), ("obama", "obama-480p.jpg"),
          ("obama", "obama1.jpg"), ("obama", "obama2.jpg"), ("kit_harington", "john1.jpeg"),
          ("kit_harington", "john2.jpeg"), ("rose_leslie", "img1.jpg"), ("alex_lacamoire", "img1.jpg"),
          ("_groups_unlabeled", "kit_with_rose.jpg")]


def make_subset(root):
    os.makedirs(root, exist_ok=True)
    for sub, name in SUBSET:
        shutil.copyfile(photo(sub, name), os.path.join(root, f"{sub}-{name}"))
    shutil.copyfile(photo("obama", "obama1.jpg"), os.path.join(root, "zz-copy-of-obama1.jpg"))
    return len(SUBSET) + 1


def scan_and_detect_local(tmp, home, env, photos, names):
    """Scans `photos` into one catalog per name (<tmp>/<name>.db) and runs catalog-mode detect into the first:
    the one-machine reference. Returns name -> catalog path."""
    cats = {n: os.path.join(tmp, n + ".db") for n in names}
    for n, c in cats.items():
        r = run(["facecat-scan", "--catalog", c, photos], home, env=env)
        check_eq(r.rc, 0, f"scan into {n}")
    r = run(["facecat-detect", "--catalog", cats[names[0]]], home, env=env)
    check_eq(r.rc, 0, f"one machine: detect ({r.stderr[-300:]!r})")
    return cats


FACE_COLS = ("file_hash, pipeline_version, face_index, model_id, x, y, w, h, conf, label, descriptor, landmarks, "
             "quality, crop_path, person_id, assignment, cluster_id")
DET_COLS = "file_hash, pipeline_version, model_id, n_faces, width, height, error"
FILE_COLS = ("f.path, f.size, f.mtime_ns, f.hash, f.kind, f.format, f.width, f.height, f.orientation, f.status, "
             "f.error, f.origin, (SELECT g.path FROM files g WHERE g.id = f.duplicate_of)")


def rows(catalog, sql, args=()):
    db = sqlite3.connect(f"file:{catalog}?mode=ro", uri=True)
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


def snapshot(catalog):
    """Everything the comparison looks at, ordered by content (ids differ between catalogs)."""
    return {
        "faces": rows(catalog, f"SELECT {FACE_COLS} FROM faces ORDER BY file_hash, pipeline_version, face_index"),
        "detections": rows(catalog, f"SELECT {DET_COLS} FROM detections ORDER BY file_hash, pipeline_version"),
        "files": rows(catalog, f"SELECT {FILE_COLS} FROM files f ORDER BY f.path"),
        "pipelines": rows(catalog, "SELECT name, version, params FROM pipelines ORDER BY name"),
        "models": rows(catalog, "SELECT id, dims FROM models ORDER BY id"),
    }


def identical_descriptors(a, b):
    """(faces in a, faces of a whose descriptor in b is the same bytes at the same box)."""
    db = sqlite3.connect(f"file:{a}?mode=ro", uri=True)
    try:
        db.execute("ATTACH ? AS b", (f"file:{b}?mode=ro",))
        total = db.execute("SELECT count(*) FROM faces").fetchone()[0]
        same = db.execute(
            "SELECT count(*) FROM faces x JOIN b.faces y USING (file_hash, pipeline_version, face_index) "
            "WHERE x.descriptor = y.descriptor AND length(x.descriptor) = 512 AND x.x = y.x AND x.y = y.y "
            "AND x.w = y.w AND x.h = y.h").fetchone()[0]
        return total, same
    finally:
        db.close()


def check_same_results(got, want, what, with_files=True):
    """got's catalog holds exactly want's faces (boxes, descriptors bit for bit), detections, pipelines, models."""
    a, b = snapshot(got), snapshot(want)
    total, same = identical_descriptors(want, got)
    check(total > 0 and same == total and len(a["faces"]) == total,
          f"{what}: {same} of {total} faces with the same box and bit-identical descriptor ({len(a['faces'])} there)")
    for k in ("faces", "detections", "pipelines", "models") + (("files",) if with_files else ()):
        diff = [(i, x, y) for i, (x, y) in enumerate(zip(a[k], b[k])) if x != y]
        first = ""
        if diff:
            i, x, y = diff[0]
            first = f"; row {i} differs in columns {[c for c, (u, v) in enumerate(zip(x, y)) if u != v]}: {x!r:.300} vs {y!r:.300}"
        check(a[k] == b[k], f"{what}: {k} rows equal ({len(a[k])} vs {len(b[k])}{first})")
    return total, same
