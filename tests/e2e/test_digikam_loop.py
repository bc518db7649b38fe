#!/usr/bin/env python3
"""The loop with digiKam, on the digikam79 fixture (Debian 12's digiKam 7.9 database) and real faces: facecat-detect
finds the faces; a digiKam user names one face of each of two people (with digiKam's own boxes, not facecat's);
`facecat-digikam import` confirms those faces; `facecat-cluster` suggests the same people for their other photos;
`facecat-people confirm` accepts them; `facecat-digikam db` puts them back into digiKam: one region per face (the
named ones keep digiKam's box), and a second export changes nothing."""
import os
import shutil
import sqlite3
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from facecat_test import TempDir, check, check_eq, check_locale, finish, need_testdata, run, skip  # noqa: E402
from digikam_fixture import scan  # noqa: E402

check_locale()
DK79 = need_testdata("digikam", "digikam79", "digikam4.db")
PHOTOS79 = need_testdata("digikam", "digikam79", "photos")
if not os.environ.get("FACECAT_MODELS_DIR") or not os.path.isdir(os.environ["FACECAT_MODELS_DIR"]):
    skip("FACECAT_MODELS_DIR is not set (scripts/setup fetches the face model)")
PICK = ["obama/obama.jpg", "obama/obama1.jpg", "obama/obama2.jpg", "biden/biden.jpg", "biden/biden2.jpg"]
NAMED = {"obama/obama.jpg": "Barack Obama", "biden/biden.jpg": "Joe Biden"}


def faces(cat):
    """{relative path: [(face id, (x, y, w, h), name, assignment)]}, largest face first."""
    db = sqlite3.connect(cat)
    rows = db.execute("SELECT fi.path, fa.id, fa.x, fa.y, fa.w, fa.h, p.name, fa.assignment FROM faces fa "
                      "JOIN files fi ON fi.hash = fa.file_hash LEFT JOIN people p ON p.id = fa.person_id "
                      "ORDER BY fa.w * fa.h DESC").fetchall()
    db.close()
    out = {}
    for path, fid, x, y, w, h, name, asg in rows:
        rel = os.path.relpath(bytes(path).decode(), PHOTOS)
        out.setdefault(rel, []).append((fid, (x, y, w, h), name, asg))
    return out


def regions(dk):
    db = sqlite3.connect(dk)
    rows = db.execute("SELECT a.relativePath || '/' || i.name, t.name, p.value FROM ImageTagProperties p "
                      "JOIN Images i ON i.id = p.imageid JOIN Albums a ON a.id = i.album JOIN Tags t ON t.id = p.tagid "
                      "WHERE p.property = 'tagRegion' ORDER BY 1, 2, 3").fetchall()
    db.close()
    return rows


with TempDir() as tmp:
    home = os.path.join(tmp, "home")
    PHOTOS = os.path.join(tmp, "photos")
    for rel in PICK:
        os.makedirs(os.path.dirname(os.path.join(PHOTOS, rel)), exist_ok=True)
        shutil.copy(os.path.join(PHOTOS79, rel), os.path.join(PHOTOS, rel))
    dk = os.path.join(tmp, "digikam4.db")
    shutil.copy(DK79, dk)
    os.chmod(dk, 0o644)
    maps = ["--root-map", f"{PHOTOS}=/photos"]
    cat = os.path.join(tmp, "catalog.db")
    scan(home, cat, PHOTOS)
    r = run(["facecat-detect", "--catalog", cat], home)
    check_eq(r.rc, 0, f"detect: exit code ({r.stderr[-300:]!r})")
    found = faces(cat)
    check_eq(sorted(found), sorted(PICK), "detect: faces on every photo")

    # The user names one face of each person in digiKam; digiKam's box is its own (here 10% larger).
    db = sqlite3.connect(dk)
    people = db.execute("SELECT id FROM Tags WHERE pid = 0 AND name = 'People'").fetchone()[0]
    for rel, name in NAMED.items():
        x, y, w, h = found[rel][0][1]
        box = (x - w // 10, y - h // 10, w + w // 5, h + h // 5)
        tag = db.execute("INSERT INTO Tags (pid, name) VALUES (?, ?)", (people, name)).lastrowid
        db.execute("INSERT INTO TagProperties VALUES (?, 'person', ?)", (tag, name))
        db.execute("INSERT INTO TagProperties VALUES (?, 'faceEngineId', ?)", (tag, name))
        album, fname = "/" + os.path.dirname(rel), os.path.basename(rel)
        image = db.execute("SELECT i.id FROM Images i JOIN Albums a ON a.id = i.album WHERE a.relativePath = ? "
                           "AND i.name = ?", (album, fname)).fetchone()[0]
        db.execute("INSERT INTO ImageTags VALUES (?, ?)", (image, tag))
        db.execute("INSERT INTO ImageTagProperties VALUES (?, ?, 'tagRegion', ?)",
                   (image, tag, '<rect x="%d" y="%d" width="%d" height="%d"/>' % box))
    db.commit()
    db.close()
    named_in_digikam = regions(dk)

    r = run(["facecat-digikam", "--catalog", cat, "import", "--digikam-db", dk] + maps, home)
    check_eq(r.rc, 0, f"import: exit code ({r.stderr[-300:]!r})")
    s = r.events("import-summary")
    check_eq((s[0]["confirmed_count"], s[0]["created_count"]) if s else None, (2, 0),
             "import: both named faces confirmed")
    found = faces(cat)
    for rel, name in NAMED.items():
        check_eq(found[rel][0][2:], (name, "confirmed"), f"import: {rel}'s face is {name}")

    r = run(["facecat-cluster"] + ["--catalog", cat], home)
    check_eq(r.rc, 0, f"cluster: exit code ({r.stderr[-300:]!r})")
    found = faces(cat)
    for rel, name in [("obama/obama1.jpg", "Barack Obama"), ("obama/obama2.jpg", "Barack Obama"),
                      ("biden/biden2.jpg", "Joe Biden")]:
        check_eq(found[rel][0][2:], (name, "suggested"), f"cluster: {rel}'s face is suggested as {name}")

    for name in NAMED.values():
        r = run(["facecat-people", "--catalog", cat, "confirm", name], home)
        check_eq(r.rc, 0, f"confirm {name}: exit code")
    r = run(["facecat-digikam", "--catalog", cat, "db", "--digikam-db", dk] + maps, home)
    check_eq(r.rc, 0, f"export: exit code ({r.stderr[-300:]!r})")
    s = r.events("db-summary")
    check_eq((s[0]["added_face_count"], s[0]["present_face_count"], s[0]["conflict_count"]) if s else None, (3, 2, 0),
             "export: the three suggested-then-confirmed faces added, the two named in digiKam already there")
    got = regions(dk)
    want = sorted(set(named_in_digikam) | {("/" + rel, name, '<rect x="%d" y="%d" width="%d" height="%d"/>'
                                            % found[rel][0][1])
                                           for rel, name in [("obama/obama1.jpg", "Barack Obama"),
                                                             ("obama/obama2.jpg", "Barack Obama"),
                                                             ("biden/biden2.jpg", "Joe Biden")]})
    check_eq(got, want, "export: one region per face; the faces named in digiKam keep digiKam's box")
    r = run(["facecat-digikam", "--catalog", cat, "db", "--digikam-db", dk] + maps, home)
    s = r.events("db-summary")
    check_eq((r.rc, s[0]["added_face_count"] if s else None, regions(dk)), (0, 0, got),
             "a second export changes nothing")

finish()
