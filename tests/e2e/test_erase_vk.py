"""facecat-people erase vk:<id> --vk (issue 19): after a crawl against the fake VK server and detect, erasing one
person by VK id removes their person row and sources, VK crawl rows, listed and downloaded photos (files rows and
the files on disk), and the faces in those photos, while everyone else's photos and faces stay."""
import os
import sqlite3
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "fakevk"))
from facecat_test import TESTDATA, TempDir, check, check_eq, check_locale, finish, need_testdata, run  # noqa: E402
from fake import FakeVK  # noqa: E402

check_locale()
need_testdata("faces")


def q(cat, sql, *a):
    c = sqlite3.connect(cat)
    try:
        return c.execute(sql, a).fetchall()
    finally:
        c.close()


def main():
    with TempDir() as tmp, FakeVK(testdata=TESTDATA, friends=6, fof=0,
                                  rate_limit={"user": 1000, "service": 1000, "group": 1000}) as fake:
        home = os.path.join(tmp, "home")
        cat = os.path.join(tmp, "cat.db")
        photos = os.path.join(tmp, "photos")
        env = {"VKAPPS_TOKEN": "user-token", "FACECAT_VK_API_BASE": fake.api_base, "FACECAT_VK_RPS": "50",
               "FACECAT_VK_RETRY_BASE_MS": "40", "FACECAT_CATALOG": cat, "FACECAT_MIN_FACE": "40",
               "FACECAT_CROPPED_FACES_PATH": os.path.join(tmp, "crops")}
        r = run(["facecat-vk", "fetch", "--user", "fixture.root", "--depth", "1", "--photos", "2", "--out", photos],
                home, env=env, timeout=300)
        check(r.rc in (0, 1), f"vk fetch (the fake answers 404 for one photo on purpose: exit 1) ({r.rc})")
        r = run(["facecat-detect"], home, env=env)
        check(r.rc in (0, 1), "detect the downloaded photos")
        # the friend with the most downloaded photos
        rows = q(cat, "SELECT ps.external_id, f.source_person_id, count(*) FROM files f JOIN person_sources ps ON "
                      "ps.person_id = f.source_person_id AND ps.source = 'vk' WHERE f.origin = 'vk' GROUP BY 1, 2 "
                      "ORDER BY 3 DESC, 1 LIMIT 1")
        check(rows, f"a VK person with downloaded photos ({rows})")
        vk_id, pid, n_photos = rows[0]
        their_files = q(cat, "SELECT path, hash FROM files WHERE origin = 'vk' AND source_person_id = ?", pid)
        others = q(cat, "SELECT path FROM files WHERE origin = 'vk' AND source_person_id IS NOT ?", pid)
        check(all(os.path.exists(bytes(p)) for p, _ in their_files) and others, "their photos and others' are on disk")
        other_faces = q(cat, "SELECT id, descriptor FROM faces WHERE file_hash NOT IN (%s) ORDER BY id" %
                        ",".join("?" * len(their_files)), *[h for _, h in their_files])
        # --report pointing at a folder of the user's that happens to hold thumbs/<their face id>.jpg: left alone
        their_faces = [i for (i,) in q(cat, "SELECT id FROM faces WHERE file_hash IN (%s)" %
                                       ",".join("?" * len(their_files)), *[h for _, h in their_files])]
        victim = os.path.join(tmp, "victim")
        os.makedirs(os.path.join(victim, "thumbs"))
        for i in their_faces or [1]:
            with open(os.path.join(victim, "thumbs", f"{i}.jpg"), "w") as f:
                f.write("the user's own file")
        victim_before = sorted(os.listdir(os.path.join(victim, "thumbs")))
        r = run(["facecat-people", "erase", f"vk:{vk_id}", "--vk", "--report", victim], home, env=env)
        check(r.rc == 1 and b"not a facecat report" in r.stderr,
              f"erase vk:{vk_id} --vk --report <a folder of the user's>: the erase is done, the folder refused, exit 1 "
              f"({r.rc}, {r.stderr[-300:]!r})")
        check_eq(sorted(os.listdir(os.path.join(victim, "thumbs"))), victim_before, "the user's folder is untouched")
        removed = r.events("erased")[0]["removed"]
        check(removed["vk_photo_file_count"] == len(their_files) and removed["vk_profile_count"] == 1
              and removed["person_count"] == 1,
              f"counted by kind ({removed})")
        check(not any(os.path.exists(bytes(p)) for p, _ in their_files), "their downloaded photos are gone from disk")
        check(all(os.path.exists(bytes(p)) for (p,) in others), "everyone else's photos stay")
        check_eq(q(cat, "SELECT count(*) FROM person_sources WHERE source = 'vk' AND external_id = ?", vk_id), [(0,)],
                 "their VK source row is gone")
        check_eq(q(cat, "SELECT count(*) FROM vk_crawl WHERE vk_id = ?", vk_id), [(0,)], "their crawl row is gone")
        check_eq(q(cat, "SELECT count(*) FROM vk_photos WHERE owner_id = ?", vk_id), [(0,)], "their photo rows are gone")
        check_eq(q(cat, "SELECT count(*) FROM friendships WHERE a = ? OR b = ?", vk_id, vk_id), [(0,)],
                 "their friendships are gone")
        check_eq(q(cat, "SELECT count(*) FROM files WHERE source_person_id = ? OR hash IN (%s)" %
                   ",".join("?" * len(their_files)), pid, *[h for _, h in their_files]), [(0,)],
                 "no files row of theirs is left")
        check_eq(q(cat, "SELECT id, descriptor FROM faces ORDER BY id"), other_faces, "other faces are unchanged")
        check_eq(run(["facecat-catalog", "check"], home, env=env).rc, 0, "the catalog checks clean")
    finish()


if __name__ == "__main__":
    main()
