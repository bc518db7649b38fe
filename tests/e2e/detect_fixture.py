"""Shared helpers for the facecat-detect end-to-end tests: a small photo tree, record checks, catalog rows."""
import base64
import os
import shutil
import sqlite3

from facecat_test import check, need_testdata

FR = ("faces", "face_recognition")
# Small photos with faces (face_recognition's test images): fast to analyse.
PHOTOS = [("obama", "obama_small.jpg"), ("obama", "obama-480p.jpg"), ("biden", "biden.jpg"),
          ("_groups_unlabeled", "two_people.jpg"), ("kit_harington", "john2.jpeg")]
MIN_FACE = "90"  # faces.min_face for the tests: every face in PHOTOS is >= 104 px; HOG runs below full scale


def photo(sub, name):
    return need_testdata(*FR, sub, name)


def make_tree(root, photos=PHOTOS):
    os.makedirs(root, exist_ok=True)
    out = []
    for sub, name in photos:
        dst = os.path.join(root, name)
        shutil.copyfile(photo(sub, name), dst)
        out.append(dst)
    return out


def env_for(tmp):
    """Crops under tmp/crops; min_face for speed."""
    return {"FACECAT_CROPPED_FACES_PATH": os.path.join(tmp, "crops"), "FACECAT_MIN_FACE": MIN_FACE,
            "FACECAT_DETECT_THREADS": "2"}


FACE_KEYS = {"event", "path", "hash", "face_index", "face_count", "box", "conf", "label", "descriptor", "model",
             "pipeline", "pipeline_name", "crop", "quality", "width", "height"}


def results(records):
    """detect's per-file records (face, file, error), without its one "pipeline" record."""
    return [r for r in records if r.get("event") in ("face", "file", "error")]


def check_record_schema(r, what):
    """A face record, a file record (face_count 0), an error record or the pipeline record, each as documented
    (docs/schema)."""
    ev = r.get("event")
    if ev == "pipeline":
        return check({"event", "pipeline", "pipeline_name", "params"} == set(r) and isinstance(r["params"], dict),
                     f"{what}: pipeline record ({sorted(r)})")
    if ev == "error":
        return check(isinstance(r.get("reason"), str) and r["reason"] and "path" in r and "pipeline" in r,
                     f"{what}: error record ({r.get('reason')})")
    if ev == "file":
        ok = {"event", "path", "hash", "face_count", "model", "pipeline", "pipeline_name", "width",
              "height"} <= set(r) and r["face_count"] == 0 and "face_index" not in r
        return check(ok, f"{what}: no-face record has its keys ({sorted(r)})")
    keys = set(r) - {"landmarks", "path_b64", "crop_b64"}
    ok = ev == "face" and keys == FACE_KEYS
    ok = ok and isinstance(r["face_index"], int) and 0 <= r["face_index"] < r["face_count"]
    ok = ok and isinstance(r["box"], list) and len(r["box"]) == 4 and all(isinstance(v, int) for v in r["box"])
    ok = ok and r["box"][2] > 0 and r["box"][3] > 0 and r["label"] == "face" and isinstance(r["conf"], float)
    ok = ok and len(base64.b64decode(r["descriptor"])) == 512 and len(r["hash"]) == 32
    ok = ok and set(r["quality"]) >= {"blur", "frontal", "size"}
    ok = ok and 0 <= r["box"][0] < r["width"] and 0 <= r["box"][1] < r["height"]
    if "landmarks" in r:
        ok = ok and len(r["landmarks"]) == 68 and all(len(p) == 2 for p in r["landmarks"])
    return check(ok, f"{what}: face record schema ({sorted(keys ^ FACE_KEYS)})")


def faces_by_key(records):
    """(hash, face_index) -> (box, descriptor) for face records."""
    return {(r["hash"], r["face_index"]): (r["box"], r["descriptor"]) for r in records if r.get("event") == "face"}


def is_jpeg(path):
    with open(path, "rb") as f:
        data = f.read()
    return len(data) > 100 and data[:2] == b"\xff\xd8" and data.rstrip(b"\0")[-2:] == b"\xff\xd9"


FACE_COLS = ("file_hash, pipeline_version, face_index, model_id, x, y, w, h, conf, label, descriptor, landmarks, "
             "quality, crop_path, person_id, assignment")
DET_COLS = "file_hash, pipeline_version, model_id, n_faces, width, height, error"


def rows(catalog, sql):
    db = sqlite3.connect(catalog)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def face_rows(catalog):
    return rows(catalog, f"SELECT {FACE_COLS} FROM faces ORDER BY file_hash, pipeline_version, face_index")


def detection_rows(catalog):
    return rows(catalog, f"SELECT {DET_COLS} FROM detections ORDER BY file_hash, pipeline_version")


def temp_files(folder):
    out = []
    for d, _, files in os.walk(folder):
        out += [os.path.join(d, f) for f in files if ".tmp." in f]
    return out
