#!/usr/bin/env python3
"""facecat-digikam db: confirmed faces into a copy of digiKam's own schema-16 database (schema 15, Debian 12's
digiKam 7.9, is tested in test_digikam_import.py), after adding the album
roots, albums and images rows that digiKam's scanner would have added."""
import glob
import hashlib
import os
import shutil
import sqlite3
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from facecat_test import TempDir, check, check_eq, check_locale, finish, need_testdata, run  # noqa: E402
from digikam_fixture import FakeDigikam, add_faces, make_photos, scan  # noqa: E402

check_locale()
EMPTY_DB = need_testdata("digikam", "digikam4.db")
BOX = (100, 50, 80, 100)
RECT = '<rect x="100" y="50" width="80" height="100"/>'
BOB = (500, 300, 100, 100)
BOB_RECT = '<rect x="500" y="300" width="100" height="100"/>'
CARL = (300, 500, 90, 90)
CARL_RECT = '<rect x="300" y="500" width="90" height="90"/>'
ZOE = (600, 200, 120, 120)
ZOE_RECT = '<rect x="600" y="200" width="120" height="120"/>'
UUID = "1234-ABCD"


def sha(p):
    with open(p, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def digikam_db(path, root_identifier, people_tag=None):
    """A copy of the empty digikam4.db with the rows digiKam's scanner adds for our photos."""
    shutil.copy(EMPTY_DB, path)
    os.chmod(path, 0o644)
    db = sqlite3.connect(path)
    db.execute("INSERT INTO AlbumRoots (id, label, status, type, identifier, specificPath, caseSensitivity) "
               "VALUES (1, 'Photos', 0, 1, ?, '/', 1)", (root_identifier,))
    db.execute("INSERT INTO AlbumRoots (id, label, status, type, identifier, specificPath, caseSensitivity) "
               "VALUES (2, 'USB stick', 0, 2, ?, '/photos2', 1)", (f"volumeid:?uuid={UUID}",))
    for aid, root, rel in [(1, 1, "/"), (2, 1, "/2020"), (3, 1, "/2020/trip"), (4, 2, "/")]:
        db.execute("INSERT INTO Albums (id, albumRoot, relativePath, date, caption, collection, icon, "
                   "modificationDate) VALUES (?, ?, ?, '2020-07-01', NULL, NULL, NULL, '2020-07-01T10:00:00')",
                   (aid, root, rel))
    for iid, album, name, o in [(10, 3, "a.jpg", 1), (11, 3, "b.jpg", 6), (12, 4, "c.jpg", 1)]:
        db.execute("INSERT INTO Images (id, album, name, status, category, modificationDate, fileSize, uniqueHash, "
                   "manualOrder) VALUES (?, ?, ?, 1, 1, '2020-07-01T10:00:00', 43814, ?, NULL)",
                   (iid, album, name, f"hash{iid}"))
        w, h = (800, 1000) if o == 6 else (1000, 800)
        db.execute("INSERT INTO ImageInformation (imageid, rating, creationDate, digitizationDate, orientation, "
                   "width, height, format, colorDepth, colorModel) VALUES (?, -1, '2020-07-01T10:00:00', "
                   "'2020-07-01T10:00:00', ?, ?, ?, 'JPG', 8, 5)", (iid, o, w, h))
    if people_tag:
        # A German digiKam: the People parent is "Personen", with a person and the Unknown system tag.
        db.execute("INSERT INTO Tags (id, pid, name) VALUES (1, 0, ?)", (people_tag,))
        db.execute("INSERT INTO Tags (id, pid, name) VALUES (2, 1, 'Bestehende Person')")
        db.execute("INSERT INTO Tags (id, pid, name) VALUES (3, 1, 'Unbekannt')")
        db.execute("INSERT INTO TagProperties VALUES (2, 'person', 'Bestehende Person')")
        db.execute("INSERT INTO TagProperties VALUES (2, 'faceEngineId', 'Bestehende Person')")
        db.execute("INSERT INTO TagProperties VALUES (3, 'person', '')")
        db.execute("INSERT INTO TagProperties VALUES (3, 'unknownPerson', '')")
        # The user already named Carl's face in digiKam as someone else: digiKam's decision stays.
        db.execute("INSERT INTO ImageTags VALUES (10, 2)")
        db.execute("INSERT INTO ImageTagProperties VALUES (10, 2, 'tagRegion', ?)", (CARL_RECT,))
    db.commit()
    db.close()


def counts(path):
    db = sqlite3.connect(path)
    c = {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
         for t in ["Tags", "TagsTree", "TagProperties", "ImageTags", "ImageTagProperties"]}
    db.close()
    return c


def tag_id(db, name):
    row = db.execute("SELECT id, pid FROM Tags WHERE name = ?", (name,)).fetchone()
    return row if row else (None, None)


with TempDir() as tmp:
    home = os.path.join(tmp, "home")
    photos = os.path.join(tmp, "photos")
    vol = os.path.join(tmp, "vol")
    cat = os.path.join(tmp, "catalog.db")
    make_photos(photos, {"2020/trip/a.jpg": 1, "2020/trip/b.jpg": 6, "elsewhere.jpg": 1})
    make_photos(os.path.join(vol, "photos2"), {"c.jpg": 1})
    scan(home, cat, photos)
    scan(home, cat, vol)
    A, B, C = (os.path.join(photos, "2020", "trip", "a.jpg"), os.path.join(photos, "2020", "trip", "b.jpg"),
               os.path.join(vol, "photos2", "c.jpg"))
    add_faces(cat, {
        A: [BOX + ("Alice Example", "confirmed", "named"), BOB + ("Bob & Co", "confirmed", "named"),
            CARL + ("Carl", "confirmed", "named"), (700, 100, 50, 50, "Sam Suggested", "suggested", "named"),
            (800, 100, 50, 50, None, None, None)],
        B: [BOX + ("Alice Example", "confirmed", "named")],  # given in the displayed 800x1000 frame
        C: [ZOE + ("Zoë/Ü", "confirmed", "named")],
        os.path.join(photos, "elsewhere.jpg"): [BOX + ("Alice Example", "confirmed", "named")],
    })

    # digiKam sees the collection at another path (a NAS mount) and the stick by its uuid.
    dkdir = os.path.join(tmp, "digikam")
    os.makedirs(dkdir)
    dk = os.path.join(dkdir, "digikam4.db")
    digikam_db(dk, "volumeid:?path=%2Fmnt%2Fnas%2Fphotos", people_tag="Personen")
    maps = ["--root-map", f"{photos}=/mnt/nas/photos", "--volume", f"{UUID}={vol}"]
    base = ["facecat-digikam", "--catalog", cat, "db", "--digikam-db", dk]

    # ---- without the root mapping nothing matches: a clear hint, no change ----
    before = sha(dk)
    r = run(base + ["--volume", f"{UUID}=/nonexistent"], home)
    check_eq(r.rc, 1, "no root map: exit code 1")
    check(b"--root-map" in r.stderr, "no root map: the hint names --root-map")
    check_eq(sha(dk), before, "no root map: the database is unchanged")
    check_eq(glob.glob(dk + ".facecat-backup-*"), [], "no root map: no backup either")

    # ---- the real run ----
    r = run(base + maps, home)
    check_eq(r.rc, 0, f"db: exit code (stderr {r.stderr[-300:]!r})")
    check(b"schema version" not in r.stderr, "db: no schema warning for schema 16")
    ev = {os.path.basename(e["path"]): e for e in r.events("db")}
    check_eq(sorted(ev), ["a.jpg", "b.jpg", "c.jpg"], "db: one event per matched image")
    check_eq([os.path.basename(e["path"]) for e in r.events("skipped")], ["elsewhere.jpg"],
             "db: a photo digiKam does not know is skipped")
    check_eq((ev["a.jpg"]["added_face_count"], ev["a.jpg"]["conflict_count"]), (2, 1),
             "db: a.jpg adds two faces, one conflict")
    summary = r.events("db-summary")
    backups = glob.glob(dk + ".facecat-backup-*")
    check_eq(len(backups), 1, "db: one backup copy")
    if summary and backups:
        check_eq(summary[0].get("backup"), backups[0], "db: the summary names the backup")
        check_eq(counts(backups[0])["ImageTagProperties"], 1, "db: the backup holds the state before the run")

    db = sqlite3.connect(dk)
    personen, _ = tag_id(db, "Personen")
    alice, alice_pid = tag_id(db, "Alice Example")
    bob, bob_pid = tag_id(db, "Bob & Co")
    zoe, zoe_pid = tag_id(db, "Zoë\\Ü")
    check_eq((alice_pid, bob_pid, zoe_pid), (personen, personen, personen),
             "db: new person tags go under the existing localized People tag 'Personen'")
    check_eq(db.execute("SELECT count(*) FROM Tags WHERE name = 'People'").fetchone()[0], 0,
             "db: no second People tag")
    check_eq(tag_id(db, "Sam Suggested")[0], None, "db: suggested faces are not written")
    for name, tid in [("Alice Example", alice), ("Bob & Co", bob), ("Zoë\\Ü", zoe)]:
        props = sorted(db.execute("SELECT property, value FROM TagProperties WHERE tagid = ?", (tid,)).fetchall())
        check_eq(props, [("faceEngineId", name), ("person", name)], f"db: TagProperties of {name!r}")
        tree = sorted(r[0] for r in db.execute("SELECT pid FROM TagsTree WHERE id = ?", (tid,)))
        check_eq(tree, [0, personen], f"db: TagsTree of {name!r} (kept by digiKam's trigger)")
    regions = sorted(db.execute("SELECT imageid, tagid, property, value FROM ImageTagProperties").fetchall())
    check_eq(regions, sorted([(10, 2, "tagRegion", CARL_RECT), (10, alice, "tagRegion", RECT),
                              (10, bob, "tagRegion", BOB_RECT), (11, alice, "tagRegion", RECT),
                              (12, zoe, "tagRegion", ZOE_RECT)]),
             "db: tagRegion rows in display-frame pixels (b.jpg, orientation 6, keeps the displayed rect)")
    tags = sorted(db.execute("SELECT imageid, tagid FROM ImageTags").fetchall())
    check_eq(tags, sorted([(10, 2), (10, alice), (10, bob), (11, alice), (12, zoe)]), "db: ImageTags rows")
    db.close()

    # ---- a second run adds nothing ----
    after_first = counts(dk)
    sha_first = sha(dk)
    r = run(base + maps, home)
    check_eq(r.rc, 0, "second run: exit code")
    check_eq(counts(dk), after_first, "second run: no row added")
    check_eq(sha(dk), sha_first, "second run: the file is byte-identical")
    s = r.events("db-summary")
    check_eq((s[0]["added_face_count"], s[0]["present_face_count"]) if s else None, (0, 4),
             "second run: 0 added, 4 present")
    check_eq(len(glob.glob(dk + ".facecat-backup-*")), 1, "second run: no new backup (nothing to change)")

    # ---- a locked database is refused ----
    holder = sqlite3.connect(dk, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    add_faces(cat, {C: [ZOE + ("Zoë/Ü", "confirmed", "named"), BOX + ("Alice Example", "confirmed", "named")]})
    t0 = time.monotonic()
    r = run(base + maps, home)
    check_eq(r.rc, 3, "locked: exit code 3")
    check(b"locked" in r.stderr, f"locked: says so ({r.stderr[-200:]!r})")
    check(time.monotonic() - t0 < 5, "locked: refused at once, without waiting")
    holder.execute("ROLLBACK")
    holder.close()
    check_eq(counts(dk), after_first, "locked: nothing was written")

    # ---- a running digiKam is refused, but only one that holds this database ----
    elsewhere = os.path.join(tmp, "other-collection", "digikam4.db")
    os.makedirs(os.path.dirname(elsewhere))
    shutil.copy(dk, elsewhere)
    with FakeDigikam(elsewhere):
        # a dry run passes the same check and writes nothing, so the database below stays as it was
        r = run(base + maps + ["--dry-run"], home)
        check_eq(r.rc, 0, f"digiKam on another collection: not refused ({r.stderr[-200:]!r})")
    with FakeDigikam(dk):
        r = run(base + maps, home)
        check_eq(r.rc, 3, "digiKam running: exit code 3")
        check(b"digiKam is running" in r.stderr, f"digiKam running: says so ({r.stderr[-200:]!r})")
    check_eq(counts(dk), after_first, "digiKam running: nothing was written")

    # ---- once free again, only the new face is added (and a new backup made) ----
    r = run(base + maps, home)
    check_eq(r.rc, 0, "incremental: exit code")
    c = counts(dk)
    check_eq((c["ImageTagProperties"] - after_first["ImageTagProperties"], c["Tags"] - after_first["Tags"]), (1, 0),
             "incremental: one region added, no tag")
    check_eq(len(glob.glob(dk + ".facecat-backup-*")), 2, "incremental: a second backup")

    # ---- an English database without any People tag: one is created at the top ----
    dk2 = os.path.join(dkdir, "fresh.db")
    digikam_db(dk2, "volumeid:?path=/mnt/nas/photos")
    fresh_sha = sha(dk2)
    r = run(["facecat-digikam", "--catalog", cat, "db", "--digikam-db", dk2, "--dry-run"] + maps, home)
    check_eq(r.rc, 0, "dry run: exit code")
    s = r.events("db-summary")
    check_eq((s[0]["added_face_count"], s[0]["created_tag_count"]) if s else None, (6, 5),
             "dry run: says what it would add")
    check_eq(sha(dk2), fresh_sha, "dry run: the database is unchanged")
    check_eq(glob.glob(dk2 + ".facecat-backup-*"), [], "dry run: no backup")
    r = run(["facecat-digikam", "--catalog", cat, "db", "--digikam-db", dk2] + maps, home)
    check_eq(r.rc, 0, "fresh: exit code")
    db = sqlite3.connect(dk2)
    people = db.execute("SELECT id FROM Tags WHERE pid = 0 AND name = 'People'").fetchall()
    check_eq(len(people), 1, "fresh: a top-level People tag is created")
    if people:
        names = sorted(r[0] for r in db.execute("SELECT name FROM Tags WHERE pid = ?", (people[0][0],)))
        check_eq(names, ["Alice Example", "Bob & Co", "Carl", "Zoë\\Ü"], "fresh: person tags under it")
    check_eq(db.execute("SELECT count(*) FROM ImageTagProperties").fetchone()[0], 6, "fresh: six regions")
    db.close()

    # ---- not a digiKam database ----
    r = run(["facecat-digikam", "--catalog", cat, "db", "--digikam-db", cat] + maps, home)
    check_eq(r.rc, 3, "not digiKam's: exit code 3")
    check(b"not a digiKam database" in r.stderr, "not digiKam's: says so")

finish()
