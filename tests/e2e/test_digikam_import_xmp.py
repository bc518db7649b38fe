#!/usr/bin/env python3
"""facecat-digikam import --xmp: MWG and MP regions that other tools wrote (made here with exiftool), in sidecars
at EXIF orientations 1, 6 and 8 and embedded in a photo, land on the catalog's faces in the displayed frame;
unnamed regions, facecat's own regions, conflicts and a second run."""
import json
import os
import sqlite3
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from facecat_test import TempDir, check, check_eq, check_locale, finish, need_program, run  # noqa: E402
from digikam_fixture import add_faces, make_photos, scan  # noqa: E402

check_locale()
need_program("exiftool")

BOX = (100, 50, 80, 100)     # display frame of every photo (the worked example of ../shared/docs/digikam.md)
OTHER = (600, 300, 120, 120)  # display frame, a second face (1000x800 and 800x1000 frames both hold it)
# orientation -> the MWG area (centre x, y, w, h, normalized to the STORED 1000x800 frame) of BOX
MWG = {1: (0.14, 0.125, 0.08, 0.125), 6: (0.1, 0.825, 0.1, 0.1), 8: (0.9, 0.175, 0.1, 0.1)}
MP = {1: "0.1, 0.0625, 0.08, 0.125", 6: "0.05, 0.775, 0.1, 0.1", 8: "0.85, 0.125, 0.1, 0.1"}


def stored_of(box, o):
    """BOX/OTHER from the display frame to the stored 1000x800 frame, as MWG centre-based normalized values."""
    x, y, w, h = box
    if o == 6:   # display (800x1000) -> stored: (dy, H - dx - w)
        x, y, w, h = y, 800 - x - w, h, w
    elif o == 8:
        x, y, w, h = 1000 - y - h, x, h, w
    return ((x + w / 2) / 1000, (y + h / 2) / 800, w / 1000, h / 800)


def region(area, name=None):
    x, y, w, h = area
    r = f"{{Area={{X={x},Y={y},W={w},H={h},Unit=normalized}},Type=Face"
    return r + (f",Name={name}}}" if name else "}")


def write_regions(target, regions, mp=None):
    """Regions written by exiftool (another tool), into a sidecar or a photo."""
    arg = ("-XMP-mwg-rs:RegionInfo={AppliedToDimensions={W=1000,H=800,Unit=pixel},RegionList=["
           + ",".join(regions) + "]}")
    cmd = ["exiftool", "-q", "-overwrite_original", arg]
    if mp:
        cmd.append("-XMP-MP:RegionInfoMP={Regions=[" + ",".join(
            f"{{PersonDisplayName={n},Rectangle={r.replace(',', '|,')}}}" for n, r in mp) + "]}")  # '|,': a comma
    subprocess.run(cmd + [target], check=True)


def names(catalog):
    db = sqlite3.connect(catalog)
    rows = db.execute("SELECT fi.path, fa.x, fa.y, fa.w, fa.h, p.name, fa.assignment FROM faces fa "
                      "JOIN files fi ON fi.hash = fa.file_hash LEFT JOIN people p ON p.id = fa.person_id").fetchall()
    db.close()
    return {(os.path.basename(bytes(r[0]).decode()), tuple(r[1:5])): (r[5], r[6]) for r in rows}


def dump(catalog):
    db = sqlite3.connect(catalog)
    d = {t: sorted(db.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in ["faces", "people", "face_sources"]}
    db.close()
    return d


with TempDir() as tmp:
    home = os.path.join(tmp, "home")
    photos = os.path.join(tmp, "photos")
    make_photos(photos, {"o1.jpg": 1, "o6.jpg": 6, "o8.jpg": 8, "embedded.jpg": 1, "ours.jpg": 1})
    cat = os.path.join(tmp, "catalog.db")
    scan(home, cat, photos)
    P = {n: os.path.join(photos, n) for n in ["o1.jpg", "o6.jpg", "o8.jpg", "embedded.jpg", "ours.jpg"]}
    add_faces(cat, {p: [BOX + (None, None, None), OTHER + (None, None, None)] for p in P.values()})

    # Sidecars (photo.jpg.xmp, and photo.xmp for o8: digiKam's "compatible" name) by exiftool.
    write_regions(P["o1.jpg"] + ".xmp", [region(MWG[1], "Alice"), region(stored_of(OTHER, 1))],
                  mp=[("Alice", MP[1])])  # MP repeats MWG's Alice: one face
    write_regions(P["o6.jpg"] + ".xmp", [region(MWG[6], "Bob"), region(stored_of(OTHER, 6), "Carol")])
    write_regions(os.path.join(photos, "o8.xmp"), [region(MWG[8], "Dave")], mp=[("Erin", MP[8].replace("0.85", "0.05"))])
    write_regions(P["embedded.jpg"], [region(MWG[1], "Frank")])
    # facecat's own export (suggested names included) must not come back as confirmed names
    db = sqlite3.connect(cat)
    pid = db.execute("INSERT INTO people (name, status, created_at, updated_at) VALUES ('Gina', 'named', 0, 0)").lastrowid
    db.execute("UPDATE faces SET person_id = ?, assignment = 'suggested' WHERE file_hash = "
               "(SELECT hash FROM files WHERE path = ?) AND x = ?", (pid, P["ours.jpg"].encode(), BOX[0]))
    db.commit()
    db.close()
    r = run(["facecat-digikam", "--catalog", cat, "xmp", "--include-suggested"], home)
    check_eq(r.rc, 0, "facecat's own sidecars: exit code")

    imp = ["facecat-digikam", "--catalog", cat, "import", "--xmp", photos]
    r = run(imp, home)
    got = names(cat)
    check_eq(got[("o1.jpg", BOX)], ("Alice", "confirmed"), "orientation 1: Alice on her face (MWG and MP once)")
    check_eq(got[("o1.jpg", OTHER)], (None, None), "orientation 1: an unnamed region names nobody")
    check_eq(got[("o6.jpg", BOX)], ("Bob", "confirmed"), "orientation 6: Bob on his face in the displayed frame")
    check_eq(got[("o6.jpg", OTHER)], ("Carol", "confirmed"), "orientation 6: Carol too")
    check_eq(got[("o8.jpg", BOX)], ("Dave", "confirmed"), "orientation 8 (photo.xmp): Dave on his face")
    check_eq(got[("embedded.jpg", BOX)], ("Frank", "confirmed"), "regions embedded in the photo")
    check_eq(got[("ours.jpg", BOX)], ("Gina", "suggested"), "facecat's own regions are not imported")
    erin = [e for e in r.events("import") if e.get("name") == "Erin"]
    check_eq([(e["status"], e["created"]) for e in erin], [("confirmed", True)],
             "an MP-only region where facecat has no face: a face is added")
    check_eq(r.rc, 0, f"import: exit code ({r.stderr[-300:]!r})")
    s = r.events("import-summary")
    check_eq({k: s[0][k] for k in ("image_count", "region_count", "confirmed_count", "unnamed_count", "created_count",
                                  "conflict_count")} if s else None,
             {"image_count": 4, "region_count": 7, "confirmed_count": 6, "unnamed_count": 1, "created_count": 1,
              "conflict_count": 0},
             "import: summary")
    db = sqlite3.connect(cat)
    src = sorted(os.path.basename(r[0]) for r in db.execute("SELECT ref FROM face_sources WHERE name = 'Frank'"))
    db.close()
    check_eq(src, ["embedded.jpg"], "the source names the photo the region was embedded in")

    before = dump(cat)
    r = run(imp, home)
    check_eq(r.rc, 0, "second run: exit code")
    check_eq(dump(cat), before, "second run: nothing changes")

    # a conflict: the user renames Bob in the sidecar; facecat keeps its confirmed Bob until told otherwise
    write_regions(P["o6.jpg"] + ".xmp", [region(MWG[6], "Robert"), region(stored_of(OTHER, 6), "Carol")])
    r = run(imp, home)
    check_eq(r.rc, 1, "conflict: exit code 1")
    check_eq([(e["name"], e["facecat"]["name"]) for e in r.events("import") if e["status"] == "conflict"],
             [("Robert", "Bob")], "conflict: reported")
    check_eq(names(cat)[("o6.jpg", BOX)], ("Bob", "confirmed"), "conflict: facecat's name stays")
    r = run(imp + ["--prefer", "digikam"], home)
    check_eq(r.rc, 0, "--prefer digikam: exit code")
    check_eq(names(cat)[("o6.jpg", BOX)], ("Robert", "confirmed"), "--prefer digikam: the sidecar's name wins")

finish()
