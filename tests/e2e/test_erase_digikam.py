"""facecat-people erase --digikam-db (issue 19): the regions that facecat-digikam db wrote for the erased person
leave digiKam's database; another person's regions, a region the user drew in digiKam for the same person, and the
tags stay; digiKam running is refused before anything is erased."""
import glob
import os
import shutil
import sqlite3
import urllib.parse

from digikam_fixture import FakeDigikam, add_faces, make_photos, scan
from facecat_test import TempDir, check, check_eq, check_locale, finish, need_testdata, run

check_locale()
EMPTY_DB = need_testdata("digikam", "digikam4.db")
ALICE, BOB, HAND = (100, 50, 80, 100), (500, 300, 100, 100), (300, 500, 90, 90)


def rect(b):
    return f'<rect x="{b[0]}" y="{b[1]}" width="{b[2]}" height="{b[3]}"/>'


def regions(dk):
    db = sqlite3.connect(dk)
    out = sorted(db.execute("SELECT i.name, t.name, p.value FROM ImageTagProperties p JOIN Images i ON i.id = p.imageid "
                            "JOIN Tags t ON t.id = p.tagid WHERE p.property = 'tagRegion'").fetchall())
    tagged = sorted(db.execute("SELECT i.name, t.name FROM ImageTags x JOIN Images i ON i.id = x.imageid "
                               "JOIN Tags t ON t.id = x.tagid").fetchall())
    tags = sorted(r[0] for r in db.execute("SELECT name FROM Tags"))
    db.close()
    return out, tagged, tags


def main():
    with TempDir() as tmp:
        home = os.path.join(tmp, "home")
        photos = os.path.join(tmp, "photos")
        cat = os.path.join(tmp, "catalog.db")
        make_photos(photos, {"a.jpg": 1, "b.jpg": 1})
        scan(home, cat, photos)
        A, B = os.path.join(photos, "a.jpg"), os.path.join(photos, "b.jpg")
        add_faces(cat, {A: [ALICE + ("Alice", "confirmed", "named"), BOB + ("Bob", "confirmed", "named")],
                        B: [ALICE + ("Alice", "confirmed", "named")]})
        dk = os.path.join(tmp, "dk", "digikam4.db")
        os.makedirs(os.path.dirname(dk))
        shutil.copy(EMPTY_DB, dk)
        db = sqlite3.connect(dk)
        db.execute("INSERT INTO AlbumRoots (id, label, status, type, identifier, specificPath, caseSensitivity) "
                   "VALUES (1, 'Photos', 0, 1, ?, '/', 1)", ("volumeid:?path=" + urllib.parse.quote(photos, safe=""),))
        db.execute("INSERT INTO Albums (id, albumRoot, relativePath, date, caption, collection, icon, modificationDate) "
                   "VALUES (1, 1, '/', '2020-07-01', NULL, NULL, NULL, '2020-07-01T10:00:00')")
        for iid, name in ((10, "a.jpg"), (11, "b.jpg")):
            db.execute("INSERT INTO Images (id, album, name, status, category, modificationDate, fileSize, uniqueHash, "
                       "manualOrder) VALUES (?, 1, ?, 1, 1, '2020-07-01T10:00:00', 1000, ?, NULL)", (iid, name, f"h{iid}"))
        db.commit()
        db.close()
        r = run(["facecat-digikam", "--catalog", cat, "db", "--digikam-db", dk], home)
        check_eq(r.rc, 0, f"facecat-digikam db ({r.stderr[-300:]!r})")
        # the user also drew a region of Alice by hand in digiKam on b.jpg
        db = sqlite3.connect(dk)
        alice_tag = db.execute("SELECT id FROM Tags WHERE name = 'Alice'").fetchone()[0]
        db.execute("INSERT INTO ImageTagProperties VALUES (11, ?, 'tagRegion', ?)", (alice_tag, rect(HAND)))
        db.commit()
        db.close()
        before = regions(dk)
        check_eq(before[0], sorted([("a.jpg", "Alice", rect(ALICE)), ("a.jpg", "Bob", rect(BOB)),
                                    ("b.jpg", "Alice", rect(ALICE)), ("b.jpg", "Alice", rect(HAND))]),
                 "before: facecat's regions and the hand-drawn one")
        backups = len(glob.glob(dk + ".facecat-backup-*"))

        # digiKam running (a process named digikam holding this database): refused, nothing erased
        with FakeDigikam(dk):
            r = run(["facecat-people", "--catalog", cat, "erase", "Alice", "--digikam-db", dk], home)
        check(r.rc == 3 and b"digiKam is running" in r.stderr, f"refused while digiKam runs ({r.rc})")
        check_eq(regions(dk), before, "digiKam's database is unchanged")
        check(run(["facecat-people", "--catalog", cat, "list"], home).stdout.count(b'"Alice"') == 1,
              "and Alice was not erased from the catalog")

        r = run(["facecat-people", "--catalog", cat, "erase", "Alice", "--digikam-db", dk], home)
        check_eq(r.rc, 0, f"erase --digikam-db ({r.stderr[-300:]!r})")
        summary = r.events("db-summary")
        check(summary and summary[0]["removed_face_count"] == 2, f"two regions taken out ({summary})")
        after = regions(dk)
        check_eq(after[0], sorted([("a.jpg", "Bob", rect(BOB)), ("b.jpg", "Alice", rect(HAND))]),
                 "after: Bob's region and the hand-drawn one stay, facecat's regions of Alice are gone")
        check_eq(after[1], sorted([("a.jpg", "Bob"), ("b.jpg", "Alice")]),
                 "a.jpg lost the Alice tag (no region of hers left), b.jpg keeps it (the hand-drawn one)")
        check_eq(after[2], before[2], "no tag was deleted")
        check_eq(len(glob.glob(dk + ".facecat-backup-*")), backups + 1, "a backup was made first")
        check(b'"Alice"' not in run(["facecat-people", "--catalog", cat, "list"], home).stdout,
              "Alice is erased from the catalog")
    finish()


if __name__ == "__main__":
    main()
