#!/usr/bin/env python3
"""facecat-digikam import from digiKam's database: a round trip through the digikam79 fixture (the schema-15
database Debian 12's digiKam 7.9 made): facecat's own `db` export, then import into a catalog that has the same faces
without names gives the same names on the same faces. Then a second run, conflicts and --prefer, digiKam's Unknown
and Ignored regions, and a region facecat had no face for (added with landmarks and a descriptor)."""
import os
import shutil
import sqlite3
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from facecat_test import TempDir, check, check_eq, check_locale, finish, need_testdata, run  # noqa: E402
from digikam_fixture import add_faces, scan  # noqa: E402

check_locale()
DK79 = need_testdata("digikam", "digikam79", "digikam4.db")
PHOTOS79 = need_testdata("digikam", "digikam79", "photos")

A = (40, 60, 120, 150)   # display-frame boxes that fit every photo of the fixture (the smallest is 320x240)
B = (200, 60, 100, 100)
# relative path -> [(box, name, assignment, person status)]
FACES = {
    "obama/obama.jpg": [(A, "Barack Obama", "confirmed", "named"), (B, None, None, None)],
    "rotated/obama_o6.jpg": [(A, "Barack Obama", "confirmed", "named")],
    "rotated/two_people_o8.jpg": [(A, "Alice/Ü", "confirmed", "named"), (B, "Bob & Co", "confirmed", "named")],
    "rotated/two_people_o3.jpg": [(B, "Bob & Co", "confirmed", "named")],
    "groups/kit_with_rose.jpg": [(A, "Kit", "confirmed", "named"), (B, "Rose", "suggested", "named")],
}


def faces_of(photos, named=True):
    out = {}
    for rel, boxes in FACES.items():
        out[os.path.join(photos, rel)] = [box + ((name, assignment, status) if named else (None, None, None))
                                          for box, name, assignment, status in boxes]
    return out


def names(catalog):
    """{(path, box): (name, assignment)} for every face of the catalog."""
    db = sqlite3.connect(catalog)
    rows = db.execute("SELECT fi.path, fa.x, fa.y, fa.w, fa.h, p.name, fa.assignment FROM faces fa "
                      "JOIN files fi ON fi.hash = fa.file_hash LEFT JOIN people p ON p.id = fa.person_id").fetchall()
    db.close()
    return {(bytes(r[0]).decode(), tuple(r[1:5])): (r[5], r[6]) for r in rows}


def dump(catalog):
    db = sqlite3.connect(catalog)
    d = {t: sorted(db.execute(f"SELECT * FROM {t}").fetchall(), key=repr)
         for t in ["faces", "people", "face_sources", "detections"]}
    db.close()
    return d


with TempDir() as tmp:
    home = os.path.join(tmp, "home")
    photos = os.path.join(tmp, "photos")
    shutil.copytree(PHOTOS79, photos)
    for d, _, fs in os.walk(photos):
        os.chmod(d, 0o755)
        for f in fs:
            os.chmod(os.path.join(d, f), 0o644)
    dk = os.path.join(tmp, "digikam", "digikam4.db")
    os.makedirs(os.path.dirname(dk))
    shutil.copy(DK79, dk)
    os.chmod(dk, 0o644)
    root_map = ["--root-map", f"{photos}=/photos"]

    # ---- catalog 1: named faces, exported into digiKam 7.9's schema-15 database ----
    cat1 = os.path.join(tmp, "named.db")
    scan(home, cat1, photos)
    add_faces(cat1, faces_of(photos))
    r = run(["facecat-digikam", "--catalog", cat1, "db", "--digikam-db", dk] + root_map, home)
    check_eq(r.rc, 0, f"db export: exit code ({r.stderr[-300:]!r})")
    check(b"schema version" not in r.stderr, "db export: no schema warning for digiKam 7.9's schema 15")
    s = r.events("db-summary")
    check_eq(s[0]["added_face_count"] if s else None, 6, "db export: the six confirmed faces")
    future = os.path.join(tmp, "digikam", "future.db")
    shutil.copy(DK79, future)
    db = sqlite3.connect(future)
    db.execute("UPDATE Settings SET value = '17' WHERE keyword = 'DBVersion'")
    db.commit()
    db.close()
    r = run(["facecat-digikam", "--catalog", cat1, "db", "--dry-run", "--digikam-db", future] + root_map, home)
    check(r.rc == 0 and b"schema version '17'" in r.stderr, "db export: a schema facecat does not know is warned about")

    # ---- catalog 2: the same photos and faces, nobody named: import from digiKam ----
    cat2 = os.path.join(tmp, "unnamed.db")
    scan(home, cat2, photos)
    add_faces(cat2, faces_of(photos, named=False))
    imp = ["facecat-digikam", "--catalog", cat2, "import", "--digikam-db", dk] + root_map
    r = run(imp, home)
    check_eq(r.rc, 0, f"import: exit code ({r.stderr[-300:]!r})")
    s = r.events("import-summary")
    check_eq({k: s[0][k] for k in ("region_count", "confirmed_count", "created_count", "conflict_count")}
             if s else None,
             {"region_count": 6, "confirmed_count": 6, "created_count": 0, "conflict_count": 0},
             "import: six regions, six confirmed")
    want = {k: v for k, v in names(cat1).items() if v[1] == "confirmed"}
    got = {k: v for k, v in names(cat2).items() if v[1] == "confirmed"}
    check_eq(got, want, "round trip: the same names on the same faces ('/' in a name survives digiKam's '\\')")
    check_eq(names(cat2)[(os.path.join(photos, "groups/kit_with_rose.jpg"), B)], (None, None),
             "round trip: the face facecat only suggested (not exported) stays nobody's")
    db = sqlite3.connect(cat2)
    src = db.execute("SELECT source, count(*), sum(created) FROM face_sources GROUP BY source").fetchall()
    db.close()
    check_eq(src, [("digikam-db", 6, 0)], "import: the source of each name is recorded")
    check_eq(run(["facecat-catalog", "--catalog", cat2, "check"], home).rc, 0, "import: facecat-catalog check")

    # ---- a second run changes nothing ----
    before = dump(cat2)
    r = run(imp, home)
    check_eq(r.rc, 0, "second run: exit code")
    s = r.events("import-summary")
    check_eq((s[0]["present_count"], s[0]["confirmed_count"]) if s else None, (6, 0),
             "second run: all six already there")
    check_eq(dump(cat2), before, "second run: the catalog is unchanged")

    # ---- conflicts: facecat confirmed Kit's face as somebody else ----
    kit_face = None
    db = sqlite3.connect(cat2)
    pid = db.execute("INSERT INTO people (name, status, created_at, updated_at) VALUES ('Somebody Else', 'named', 0, 0)"
                     ).lastrowid
    kit = os.path.join(photos, "groups/kit_with_rose.jpg")
    kit_face = db.execute("SELECT fa.id FROM faces fa JOIN files fi ON fi.hash = fa.file_hash WHERE fi.path = ? "
                          "AND fa.x = ? AND fa.y = ?", (kit.encode(), A[0], A[1])).fetchone()[0]
    db.execute("UPDATE faces SET person_id = ?, assignment = 'confirmed' WHERE id = ?", (pid, kit_face))
    db.commit()
    db.close()
    before = dump(cat2)
    r = run(imp, home)
    check_eq(r.rc, 1, "conflict: exit code 1")
    conf = [e for e in r.events("import") if e["status"] == "conflict"]
    check_eq([(e["face_id"], e["name"], e["facecat"]["name"]) for e in conf], [(kit_face, "Kit", "Somebody Else")],
             "conflict: one event naming both sides")
    lines = [l for l in r.stderr.decode().splitlines() if "Somebody Else" in l]
    check_eq(len(lines), 1, "conflict: one line on stderr")
    check_eq(dump(cat2), before, "conflict: nothing overwritten")
    r = run(imp + ["--prefer", "facecat"], home)
    check_eq(r.rc, 0, "--prefer facecat: exit code")
    check_eq([e["face_id"] for e in r.events("import") if e["status"] == "kept"], [kit_face], "--prefer facecat: kept")
    check_eq(dump(cat2), before, "--prefer facecat: nothing changed")
    r = run(imp + ["--prefer", "digikam"], home)
    check_eq(r.rc, 0, "--prefer digikam: exit code")
    check_eq([e["face_id"] for e in r.events("import") if e["status"] == "overridden"], [kit_face],
             "--prefer digikam: overridden")
    check_eq(names(cat2)[(kit, A)], ("Kit", "confirmed"), "--prefer digikam: the face is digiKam's Kit now")

    # ---- digiKam's Unknown and Ignored faces, and a face facecat does not have ----
    db = sqlite3.connect(dk)
    people_tag = db.execute("SELECT id FROM Tags WHERE pid = 0 AND name = 'People'").fetchone()[0]
    unknown = db.execute("SELECT tagid FROM TagProperties WHERE property = 'unknownPerson'").fetchone()[0]
    ignored = db.execute("INSERT INTO Tags (pid, name) VALUES (?, 'Ignored')", (people_tag,)).lastrowid
    db.execute("INSERT INTO TagProperties VALUES (?, 'person', '')", (ignored,))
    db.execute("INSERT INTO TagProperties VALUES (?, 'ignoredPerson', '')", (ignored,))
    newbie = db.execute("INSERT INTO Tags (pid, name) VALUES (?, 'New Person')", (people_tag,)).lastrowid
    db.execute("INSERT INTO TagProperties VALUES (?, 'person', 'New Person')", (newbie,))
    image = db.execute("SELECT i.id FROM Images i JOIN Albums a ON a.id = i.album WHERE a.relativePath = '/obama' "
                       "AND i.name = 'obama.jpg'").fetchone()[0]
    for tag, prop, rect in [(unknown, "autodetectedFace", B), (ignored, "ignoredFace", (300, 300, 100, 100)),
                            (newbie, "tagRegion", (500, 500, 150, 150))]:
        db.execute("INSERT OR IGNORE INTO ImageTags VALUES (?, ?)", (image, tag))
        db.execute("INSERT INTO ImageTagProperties VALUES (?, ?, ?, ?)",
                   (image, tag, prop, '<rect x="%d" y="%d" width="%d" height="%d"/>' % rect))
    db.commit()
    db.close()
    obama = os.path.join(photos, "obama/obama.jpg")
    n_before = len(names(cat2))
    r = run(imp, home)
    check_eq(r.rc, 0, f"regions: exit code ({r.stderr[-300:]!r})")
    ev = {tuple(e["box"]): e for e in r.events("import") if e["path"] == obama}
    check_eq(ev.get(B, {}).get("status"), "unnamed", "Unknown: an unnamed face")
    check_eq(names(cat2)[(obama, B)], (None, None), "Unknown: facecat's face there stays nobody's")
    check_eq(ev.get((300, 300, 100, 100), {}).get("status"), "ignored", "Ignored: reported as ignored")
    check((obama, (300, 300, 100, 100)) not in names(cat2), "Ignored: no face added for it")
    new = ev.get((500, 500, 150, 150), {})
    check_eq((new.get("status"), new.get("created")), ("confirmed", True), "a region facecat had not found: added")
    check_eq(names(cat2).get((obama, (500, 500, 150, 150))), ("New Person", "confirmed"),
             "a region facecat had not found: confirmed as its name")
    check_eq(len(names(cat2)), n_before + 1, "exactly one face added")
    db = sqlite3.connect(cat2)
    row = db.execute("SELECT length(descriptor), length(landmarks), quality, model_id FROM faces WHERE id = ?",
                     (new.get("face_id"),)).fetchone()
    nf = db.execute("SELECT d.n_faces, (SELECT count(*) FROM faces f WHERE f.file_hash = d.file_hash AND "
                    "f.pipeline_version = d.pipeline_version) FROM detections d JOIN files fi ON fi.hash = d.file_hash "
                    "WHERE fi.path = ?", (obama.encode(),)).fetchone()
    db.close()
    check_eq(row[:2] if row else None, (512, 68 * 2 * 4), "the added face has a descriptor and 68 landmarks")
    check(row is not None and row[3].startswith("faceapi-resnet-"), f"the added face names its model ({row})")
    check_eq(nf, (3, 3), "the detection counts the added face")
    check_eq(run(["facecat-catalog", "--catalog", cat2, "check"], home).rc, 0, "after adding: facecat-catalog check")
    before = dump(cat2)
    r = run(imp, home)
    check_eq(r.rc, 0, "third run: exit code")
    check_eq(dump(cat2), before, "third run: nothing changes (no second face for the added one)")

finish()
