"""Faces are biometric data (issue 19): what facecat creates is owner-only (private) or group-readable (group)
whatever the umask, check reports and fixes readable files, and `facecat-people erase` removes a person down to the
last byte: their descriptors are found in no file under the catalog's folder, the crops, chips and report folders
afterwards, the photos and other people's faces are unchanged, and with --block detect, ingest and merge never
store those faces again."""
import base64
import collections
import hashlib
import json
import os
import shutil
import sqlite3
import stat
import subprocess

from detect_fixture import rows
from facecat_test import TempDir, check, check_eq, check_locale, finish, need_testdata, run

check_locale()
FR = need_testdata("faces", "face_recognition")
OBAMA = ["obama.jpg", "obama2.jpg", "obama_small.jpg"]
OTHERS = [("biden", "biden.jpg"), ("biden", "biden2.jpg"), ("_groups_unlabeled", "two_people.jpg")]


FOREIGN_SIDECAR = """<?xml version="1.0" encoding="UTF-8"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="Other Tool 1.0">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="" xmlns:mwg-rs="http://www.metadataworkinggroup.com/schemas/regions/"
    xmlns:stArea="http://ns.adobe.com/xmp/sType/Area#" xmlns:stDim="http://ns.adobe.com/xap/1.0/sType/Dimensions#">
   <mwg-rs:Regions rdf:parseType="Resource">
    <mwg-rs:AppliedToDimensions stDim:w="1000" stDim:h="800" stDim:unit="pixel"/>
    <mwg-rs:RegionList><rdf:Bag>
     <rdf:li rdf:parseType="Resource"><mwg-rs:Name>Foreign Person</mwg-rs:Name><mwg-rs:Type>Face</mwg-rs:Type>
      <mwg-rs:Area stArea:x="0.1" stArea:y="0.1" stArea:w="0.1" stArea:h="0.125" stArea:unit="normalized"/></rdf:li>
    </rdf:Bag></mwg-rs:RegionList>
   </mwg-rs:Regions>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
"""


def region_names(sidecar):
    out = subprocess.run(["exiftool", "-struct", "-j", "-XMP-mwg-rs:RegionInfo", sidecar], capture_output=True,
                         check=True).stdout
    info = json.loads(out.decode("utf-8"))[0]
    return sorted(r.get("Name") for r in info.get("RegionInfo", {}).get("RegionList", []))


def tree_modes(*roots):
    out = {}
    for root in roots:
        if not os.path.exists(root):
            continue
        out[root] = stat.S_IMODE(os.lstat(root).st_mode)
        for d, dirs, files in os.walk(root):
            for n in dirs + files:
                p = os.path.join(d, n)
                if not os.path.islink(p):
                    out[p] = stat.S_IMODE(os.lstat(p).st_mode)
    return out


def holders(needles, roots):
    """The files under roots that contain any of the byte strings."""
    found = set()
    for root in roots:
        for d, _, files in os.walk(root):
            for n in files:
                p = os.path.join(d, n)
                data = open(p, "rb").read()
                if any(x in data for x in needles):
                    found.add(p)
    return found


def digest(paths):
    return {p: hashlib.sha256(open(p, "rb").read()).hexdigest() for p in paths}


def main():
    os.umask(0o022)
    with TempDir() as tmp:
        home = os.path.join(tmp, "home")
        photos = os.path.join(tmp, "photos")
        os.makedirs(photos)
        for n in OBAMA:
            shutil.copyfile(os.path.join(FR, "obama", n), os.path.join(photos, n))
        for sub, n in OTHERS:
            shutil.copyfile(os.path.join(FR, sub, n), os.path.join(photos, n))
        os.chmod(photos, 0o755)

        # ---- modes -------------------------------------------------------------------------------------------
        for mode, forbidden, wanted in (("private", 0o077, 0), ("group", 0o027, 0o040)):
            d = os.path.join(tmp, mode)
            cat, crops, chips, rep, log = (os.path.join(d, x) for x in ("cat/catalog.db", "crops", "chips", "report",
                                                                          "logs/facecat.log"))
            env = {"FACECAT_CATALOG": cat, "FACECAT_CROPPED_FACES_PATH": crops, "FACECAT_CHIPS_PATH": chips,
                   "FACECAT_LOG_FILE": log, "FACECAT_MIN_FACE": "90"}
            if mode != "private":
                env["FACECAT_PRIVACY_MODE"] = mode
            for cmd in (["facecat-scan", photos], ["facecat-detect", "--landmarks"], ["facecat-cluster"],
                        ["facecat-report", "--out", rep]):
                r = run(cmd, home, env=env)
                check_eq(r.rc, 0, f"{mode}: {cmd[0]}")
            r = run(["facecat-scan", "--show-config"], home, env=env)
            check(f"privacy.mode = {mode}".encode() in r.stdout, f"{mode}: --show-config shows the mode")
            modes = tree_modes(os.path.dirname(cat), crops, chips, rep, os.path.dirname(log))
            for suffix in ("", "-wal", "-shm", ".lock"):
                check(cat + suffix in modes, f"{mode}: catalog{suffix} exists")
            bad = {p: oct(m) for p, m in modes.items() if m & forbidden}
            check_eq(bad, {}, f"{mode}: nothing facecat created grants what {oct(forbidden)} keeps from others "
                              f"({len(modes)} files and folders, umask 022)")
            files = [p for p in modes if os.path.isfile(p)]
            check(all(modes[p] & 0o040 == wanted for p in files),
                  f"{mode}: files are {'group-readable' if wanted else 'owner-only'}")
            check(any(p.endswith(".jpg") for p in files) and any(p.endswith(".chip.png") for p in files),
                  f"{mode}: crops and chips were among them")
        # check reports a readable catalog file and fixes it
        cat = os.path.join(tmp, "private", "cat", "catalog.db")
        os.chmod(cat, 0o644)
        r = run(["facecat-catalog", "--catalog", cat, "check"], home)
        warns = [e for e in r.jsonl() if e.get("event") == "warning"]
        check(r.rc == 0 and len(warns) == 1 and warns[0]["path"] == cat and warns[0]["mode"] == "0644",
              f"check warns about the readable catalog ({warns})")
        r = run(["facecat-catalog", "--catalog", cat, "check", "--fix-permissions"], home)
        check(stat.S_IMODE(os.stat(cat).st_mode) == 0o600 and r.events("fixed"), "check --fix-permissions tightens it")
        r = run(["facecat-catalog", "--catalog", cat, "check"], home)
        check_eq(r.events("warning"), [], "then check is quiet")

        # ---- erase, down to the byte -----------------------------------------------------------------------------
        d = os.path.join(tmp, "erase")
        catdir, crops, chips, rep = (os.path.join(d, x) for x in ("cat", "crops", "chips", "report"))
        cat = os.path.join(catdir, "catalog.db")
        env = {"FACECAT_CATALOG": cat, "FACECAT_CROPPED_FACES_PATH": crops, "FACECAT_CHIPS_PATH": chips,
               "FACECAT_MIN_FACE": "90"}
        run(["facecat-scan", photos], home, env=env)
        det = run(["facecat-detect", "--landmarks"], home, env=env)
        check_eq(det.rc, 0, "detect")
        worker_jsonl = det.stdout  # a worker's output, as facecat-parallel would ingest it
        run(["facecat-cluster"], home, env=env)
        obama_hashes = {h for (h, path) in rows(cat, "SELECT hash, path FROM files") if b"obama" in bytes(path)}
        pid = collections.Counter(p for p, h in rows(cat, "SELECT person_id, file_hash FROM faces WHERE person_id "
                                                          "IS NOT NULL") if h in obama_hashes).most_common(1)
        check(pid and pid[0][1] >= 2, f"clustering put Obama's faces into one person ({pid})")
        r = run(["facecat-people", "name", f"p{pid[0][0]}", "Barack Obama"], home, env=env)
        check_eq(r.rc, 0, "name the person")
        run(["facecat-report", "--out", rep], home, env=env)
        # sidecars: theirs with facecat's regions, and another tool's region beside them in obama.jpg's
        run(["facecat-people", "confirm", "Barack Obama"], home, env=env)
        side = os.path.join(photos, "obama.jpg.xmp")
        with open(side, "w") as f:
            f.write(FOREIGN_SIDECAR)
        r = run(["facecat-digikam", "xmp"], home, env=env)
        check_eq(r.rc, 0, "xmp export")
        check_eq(region_names(side), ["Barack Obama", "Foreign Person"], "the sidecar has their region and a foreign one")
        theirs = rows(cat, f"SELECT id, file_hash, descriptor, crop_path FROM faces WHERE person_id = {pid[0][0]}")
        needles = [x[2] for x in theirs[:2]]
        recs = [base64.b64decode(r["descriptor"]) for r in det.jsonl() if r.get("descriptor")]
        check(all(n in recs for n in needles), "two of their descriptors, as detect printed them")
        where = [catdir, crops, chips, rep]
        before = holders(needles, where)
        check(any(p.startswith(catdir) for p in before), f"before the erase the catalog's folder holds them ({before})")
        others_before = rows(cat, f"SELECT id, file_hash, x, y, w, h, descriptor FROM faces WHERE person_id IS NOT "
                                  f"{pid[0][0]} OR person_id IS NULL ORDER BY id")
        photo_names = [n for n in os.listdir(photos) if not n.endswith(".xmp")]
        photos_before = digest([os.path.join(photos, n) for n in photo_names])
        thumbs = [os.path.join(rep, "thumbs", f"{x[0]}.jpg") for x in theirs]
        check(all(os.path.exists(t) for t in thumbs), "their report thumbnails exist")
        r = run(["facecat-people", "erase", "Barack Obama", "--dry-run"], home, env=env)
        check(r.rc == 0 and r.jsonl()[0]["removed"]["face_count"] == len(theirs) and holders(needles, where) == before,
              "--dry-run counts what would go and changes nothing")
        r = run(["facecat-people", "erase", "Barack Obama", "--block", "--report", rep, "--xmp"], home, env=env)
        check_eq(r.rc, 0, f"erase ({r.stderr[-300:]!r})")
        erased = r.events("erased")[0]
        removed = erased["removed"]
        print("erase:", erased)
        check_eq(region_names(side), ["Foreign Person"], "after erase --xmp exiftool reads no region of theirs; the "
                                                         "other tool's region is still there")
        check(removed["face_count"] == removed["descriptor_count"] == len(theirs)
              and removed["crop_count"] == len(theirs) and removed["chip_count"] == len(theirs)
              and removed["thumbnail_count"] == len(theirs),
              f"the output counts what was removed by kind ({removed})")
        check_eq(holders(needles, where), set(), "after the erase no file under the catalog's folder, the crops, "
                                                 "chips and report folders holds their descriptors")
        check(not any(os.path.exists(x[3]) for x in theirs) and not any(os.path.exists(t) for t in thumbs),
              "their crops and thumbnails are gone")
        check_eq(digest([os.path.join(photos, n) for n in photo_names]), photos_before,
                 "the photos are byte-identical")
        check_eq(rows(cat, "SELECT id, file_hash, x, y, w, h, descriptor FROM faces ORDER BY id"), others_before,
                 "other people's faces are unchanged")
        check_eq(run(["facecat-catalog", "check"], home, env=env).rc, 0, "the catalog checks clean")
        st = run(["facecat-catalog", "stats"], home, env=env).jsonl()[0]
        check(st["blocked_face_count"] == len(theirs) and "scan" in st["descriptors_by_source"],
              f"stats: blocked faces and descriptors by source ({st['blocked_face_count']}, {st['descriptors_by_source']})")

        def their_faces():
            blocked = rows(cat, "SELECT file_hash, x, y, w, h FROM blocked_faces")
            got = 0
            for h, x, y, w, hh in blocked:
                for fx, fy, fw, fh in rows(cat, f"SELECT x, y, w, h FROM faces WHERE file_hash = '{h}'"):
                    ix = max(0, min(x + w, fx + fw) - max(x, fx))
                    iy = max(0, min(y + hh, fy + fh) - max(y, fy))
                    if ix * iy / (w * hh + fw * fh - ix * iy) >= 0.5:
                        got += 1
            return got

        # ---- erased stays erased ---------------------------------------------------------------------------------
        r = run(["facecat-detect", "--pipeline", "again", "--set", "faces.upsample=1"], home, env=env)
        check(r.rc == 0 and not [x for x in r.jsonl() if x.get("descriptor") in
                                 [base64.b64encode(n).decode() for n in needles]], "detect (a new pipeline) prints none of them")
        check_eq(their_faces(), 0, "after detect, no face is stored where an erased one was")
        r = run(["facecat-catalog", "ingest"], home, env=env, stdin=worker_jsonl)
        check_eq(r.rc, 0, "ingest of a worker's JSONL from before the erase")
        check_eq(their_faces(), 0, "after ingest, none of them came back")
        shard = os.path.join(d, "shard.db")
        senv = dict(env, FACECAT_CATALOG=shard, FACECAT_CROPPED_FACES_PATH=os.path.join(d, "shard-crops"))
        run(["facecat-scan", photos], home, env=senv)
        run(["facecat-detect", "--pipeline", "third", "--set", "faces.min_face=95"], home, env=senv)
        r = run(["facecat-catalog", "merge", shard], home, env=env)
        check(r.rc == 0 and r.jsonl()[0].get("blocked_face_count", 0) >= len(theirs),
              f"merge of a shard that still has them drops them ({r.jsonl()})")
        check_eq(their_faces(), 0, "after merge, none of them came back")
        check_eq(run(["facecat-catalog", "check"], home, env=env).rc, 0, "the catalog still checks clean")
    finish()


if __name__ == "__main__":
    main()
