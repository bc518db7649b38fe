#!/usr/bin/env python3
"""facecat-match known-folder mode (face_recognition CLI parity), and cluster -> people -> report on a catalog
filled with synthetic descriptors and real PNG crops (the report must be valid HTML whose every file exists)."""
import html.parser
import os
import random
import shutil
import sqlite3
import struct
import subprocess
import sys
import zlib

sys.path.insert(0, os.path.dirname(__file__))
from facecat_test import TempDir, TESTDATA, check, check_locale, finish, need_testdata, run, skip  # noqa: E402


def png(path, w, h, rgb):
    """A solid-colour RGB PNG written with the standard library."""
    raw = b"".join(b"\x00" + bytes(rgb) * w for _ in range(h))
    def chunk(kind, data):
        c = kind + data
        return struct.pack(">I", len(data)) + c + struct.pack(">I", zlib.crc32(c) & 0xFFFFFFFF)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + \
        chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(data)


VOID = {"meta", "link", "img", "br", "hr", "input", "source", "wbr", "area", "base", "col", "embed", "param", "track"}


class Checker(html.parser.HTMLParser):
    """Well-formedness: every non-void element closed in order; collects src/href."""
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.errors, self.refs, self.doctype = [], [], [], False

    def handle_decl(self, decl):
        self.doctype = self.doctype or decl.lower() == "doctype html"

    def handle_starttag(self, tag, attrs):
        for k, v in attrs:
            if k in ("src", "href") and v:
                self.refs.append(v)
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unexpected </{tag}> (open: {self.stack[-3:]})")
        else:
            self.stack.pop()


def check_report(out):
    pages = [f for f in os.listdir(out) if f.endswith(".html")]
    bad, missing = [], []
    for p in pages:
        c = Checker()
        with open(os.path.join(out, p), encoding="utf-8") as f:
            c.feed(f.read())
        c.close()
        if c.errors or c.stack or not c.doctype:
            bad.append((p, c.errors[:3], c.stack))
        for r in c.refs:
            if r.startswith(("http:", "https:", "//")):
                bad.append((p, f"network reference {r}"))
            elif not os.path.exists(os.path.join(out, r)):
                missing.append((p, r))
    return pages, bad, missing


def known_folder_parity():
    fr = need_testdata("faces", "face_recognition")
    models = os.environ.get("FACECAT_MODELS_DIR", "")
    if not os.path.exists(os.path.join(models, "face-api", "model", "face_recognition_model.bin")):
        print("SKIPPED part: face-api weights absent; known-folder parity not checked")
        return
    with TempDir() as tmp:
        home = os.path.join(tmp, "home")
        known = os.path.join(tmp, "known")
        os.makedirs(known)
        # face_recognition's own test folder: obama*, biden (names from the file names)
        for src, name in [("obama/obama.jpg", "obama.jpg"), ("obama/obama2.jpg", "obama2.jpg"),
                          ("biden/biden.jpg", "biden.jpg")]:
            shutil.copy(os.path.join(fr, src), os.path.join(known, name))
        blank = os.path.join(tmp, "blank.png")
        png(blank, 64, 64, (255, 255, 255))
        obama = os.path.join(fr, "obama", "obama.jpg")
        r = run(["facecat-match", "--known", known, obama, "--format", "csv"], home)
        lines = r.stdout.decode().splitlines()
        check(r.rc == 0, f"known-folder run exits 0 (got {r.rc}: {r.stderr.decode()[-300:]})")
        check(any(l.endswith("obama.jpg,obama") for l in lines), f"'obama.jpg,obama' printed: {lines}")
        check(not any(l.endswith(",biden") for l in lines), "obama is not biden")
        r = run(["facecat-match", "--known", known, obama, "--format", "csv", "--show-distance"], home)
        lines = r.stdout.decode().splitlines()
        check(any(l.endswith("obama.jpg,obama,0.0") for l in lines), f"'obama.jpg,obama,0.0' with --show-distance: {lines}")
        stranger = os.path.join(fr, "lin_manuel_miranda", "lin-manuel-miranda.png")
        r = run(["facecat-match", "--known", known, stranger, blank, "--format", "csv"], home)
        lines = r.stdout.decode().splitlines()
        check(f"{stranger},unknown_person" in lines, f"a stranger is unknown_person: {lines}")
        check(f"{blank},no_persons_found" in lines, f"an image without a face is no_persons_found: {lines}")
        # subfolders name the people
        sub = os.path.join(tmp, "known2")
        os.makedirs(os.path.join(sub, "Barack"))
        os.makedirs(os.path.join(sub, "Joe"))
        shutil.copy(os.path.join(fr, "obama", "obama2.jpg"), os.path.join(sub, "Barack", "a.jpg"))
        shutil.copy(os.path.join(fr, "biden", "biden.jpg"), os.path.join(sub, "Joe", "b.jpg"))
        r = run(["facecat-match", "--known", sub, os.path.join(fr, "obama", "obama.jpg")], home)
        recs = r.jsonl()
        check(len(recs) == 1 and recs[0].get("name") == "Barack", f"subfolder names: {recs}")


def catalog_flow():
    with TempDir() as tmp:
        home = os.path.join(tmp, "home")
        cat = os.path.join(tmp, "cat.db")
        crops = os.path.join(tmp, "crops")
        os.makedirs(crops)
        r = run(["facecat-cluster", "--catalog", cat], home)
        check(r.rc == 0 and r.jsonl()[0]["face_count"] == 0, f"an empty catalog clusters to nothing ({r.rc})")
        rnd = random.Random(5)
        model = "faceapi-resnet-e2etest000000"
        db = sqlite3.connect(cat)
        centres = [[rnd.gauss(0, 0.7 / 128 ** 0.5) for _ in range(128)] for _ in range(3)]
        n = 0
        faces = []
        for p, c in enumerate(centres + [None] * 4):
            for i in range(7 if c else 1):
                vec = [x + rnd.gauss(0, 0.2 / 128 ** 0.5) for x in c] if c else \
                    [rnd.gauss(0, 0.7 / 128 ** 0.5) for _ in range(128)]
                n += 1
                h = f"{n:032x}"
                crop = os.path.join(crops, f"{n}.png")
                png(crop, 40, 48, (60 * p % 256, 120, 200))
                db.execute("INSERT INTO files(path,size,mtime_ns,inode,hash,kind,first_seen,last_seen,changed_at) "
                           "VALUES (?,0,0,0,?,'image',0,0,0)", (os.path.join(tmp, f"photo{n}.jpg").encode(), h))
                db.execute("INSERT INTO detections(file_hash,pipeline_version,model_id,n_faces,processed_at) "
                           "VALUES (?,'v1',?,1,0)", (h, model))
                db.execute("INSERT INTO faces(file_hash,pipeline_version,face_index,model_id,x,y,w,h,descriptor,"
                           "crop_path,created_at) VALUES (?,'v1',0,?,10,10,40,48,?,?,0)",
                           (h, model, struct.pack("<128f", *vec), crop.encode()))
                faces.append(n)
        db.commit()
        db.close()
        r = run(["facecat-cluster", "--catalog", cat], home)
        s = r.jsonl()[0] if r.rc == 0 else {}
        check(s.get("new_cluster_count") == 3 and s.get("unclustered_count") == 4, f"3 clusters and 4 loners: {s}")
        r = run(["facecat-people", "--catalog", cat, "list"], home)
        people = r.jsonl()
        check(len(people) == 3 and all(p["event"] == "person" and p["face_count"] == 7 and p["status"] == "suggested" for p in people),
              f"3 suggested people of 7 faces: {people}")
        # before anything is named, the index shows the clusters to name (not an empty page)
        early = os.path.join(tmp, "early")
        r = run(["facecat-report", "--catalog", cat, "--out", early], home)
        with open(os.path.join(early, "index.html"), encoding="utf-8") as f:
            idx = f.read()
        check(r.rc == 0 and "Clusters to name" in idx and idx.count('class="card"') == 3,
              f"the first index shows the 3 clusters to name ({r.rc})")
        c0 = people[0]["cluster_ids"][0]
        r = run(["facecat-people", "--catalog", cat, "name", f"c{c0}", "Zoë Ünïcode"], home)
        check(r.rc == 0 and r.jsonl()[0]["name"] == "Zoë Ünïcode", f"name a cluster: {r.stdout}")
        r = run(["facecat-people", "--catalog", cat, "list", "--named"], home)
        check([p["name"] for p in r.jsonl()] == ["Zoë Ünïcode"], "the named person is listed")
        r = run(["facecat-people", "--catalog", cat, "name", "c999", "X"], home)
        check(r.rc == 2 and b"no cluster c999" in r.stderr, f"unknown cluster is a usage error ({r.rc})")
        # a second cluster run changes nothing
        r = run(["facecat-cluster", "--catalog", cat], home)
        s = r.jsonl()[0]
        check(s["new_cluster_count"] == 0 and s["joined_count"] == 0, f"a second run is a no-op: {s}")

        out = os.path.join(tmp, "report")
        r = run(["facecat-report", "--catalog", cat, "--out", out, "--people-per-page", "1"], home)
        rec = r.jsonl()[0] if r.rc == 0 else {}
        check(r.rc == 0 and rec.get("person_count") == 1 and rec.get("cluster_count") == 2, f"report summary: {rec} {r.stderr[-300:]}")
        check(rec.get("made_thumb_count") == 21 + 4 and rec.get("missing_thumb_count") == 0,
              f"a thumbnail per face (21 in people, 4 of nobody): {rec}")
        pages, bad, missing = check_report(out)
        check("index.html" in pages and "clusters.html" in pages and "clusters-2.html" in pages,
              f"index, clusters and a second clusters page: {sorted(pages)}")
        check(not bad, f"valid HTML without network references: {bad[:3]}")
        check(not missing, f"every referenced file exists: {missing[:3]}")
        with open(os.path.join(out, "index.html"), encoding="utf-8") as f:
            check("Zoë Ünïcode" in f.read(), "the name is in the index page")
        r = run(["facecat-report", "--catalog", cat, "--out", out], home)
        rec = r.jsonl()[0] if r.rc == 0 else {}
        check(rec.get("reused_thumb_count") == 21 + 4 and rec.get("made_thumb_count") == 0, f"a rerun reuses thumbnails: {rec}")
        with open(os.path.join(out, "nobody.html"), encoding="utf-8") as f:
            nob = f.read()
        check(nob.count('<img loading="lazy" src="thumbs/') == 4, "nobody.html shows the 4 faces of nobody")
        with open(os.path.join(out, f"person-{people[0]['person_id']}.html"), encoding="utf-8") as f:
            pp = f.read()
        check("green outline marks a confirmed face" in pp and f"{os.path.basename(tmp)}/photo" in pp,
              "a person page explains the outline and shows each photo's folder")
        r = run(["facecat-people", "--catalog", cat, "not-a-face", f"f{faces[-1]}"], home)
        db = sqlite3.connect(cat)
        row = db.execute("SELECT label, person_id FROM faces WHERE id = ?", (faces[-1],)).fetchall()
        db.close()
        check(r.rc == 0 and row == [("not_face", None)], f"facecat-people not-a-face ({r.rc}, {row})")
        r = run(["facecat-people", "--catalog", cat, "not-a-face", "p1"], home)
        check(r.rc == 2, f"not-a-face takes faces only ({r.rc})")
        leftovers = [f for f in os.listdir(tmp) if f.startswith(".report")]
        check(not leftovers, f"no temp folders left: {leftovers}")
        chromium = shutil.which("chromium") or shutil.which("chromium-browser")
        if chromium:
            shot = os.path.join(tmp, "shot.png")
            p = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={shot}",
                                "--window-size=1200,900", "file://" + os.path.join(out, "index.html")],
                               capture_output=True, timeout=120)
            check(os.path.exists(shot) and os.path.getsize(shot) > 1000, f"chromium renders the report ({p.returncode})")
            # The thumbnails are drawn: count the screenshot's pixels in the crops' colours (each person's crops are
            # one solid colour; the named person's 7 faces are 64 px thumbnails on the first screen).
            convert = shutil.which("convert")
            if convert and os.path.exists(shot):
                raw = subprocess.run([convert, shot, "-depth", "8", "rgb:-"], capture_output=True).stdout
                colours = {(60 * p % 256, 120, 200) for p in range(7)}
                near = sum(1 for i in range(0, len(raw) - 2, 3)
                           if raw[i + 1] in range(116, 125) and raw[i + 2] in range(196, 205) and
                           any(abs(raw[i] - c[0]) <= 4 for c in colours))
                check(near >= 7 * 56 * 56, f"the screenshot shows the thumbnails ({near} pixels in the crops' colours)")
        else:
            print("SKIPPED part: chromium absent, no screenshot")


check_locale()
known_folder_parity()
catalog_flow()
finish()
