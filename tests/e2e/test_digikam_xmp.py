#!/usr/bin/env python3
"""facecat-digikam xmp and csv: sidecars that exiftool and exiv2 (the readers digiKam's own code mirrors) read back
with the right names and areas for orientations 1, 3, 6 and 8; hard names; merging; idempotence."""
import csv
import hashlib
import io
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from facecat_test import TempDir, check, check_eq, check_locale, finish, need_program, run  # noqa: E402
from digikam_fixture import add_faces, make_photos, scan  # noqa: E402

check_locale()
need_program("exiftool")
need_program("exiv2")

BOX = (100, 50, 80, 100)  # display frame, the docs' worked example
# orientation -> (MP rectangle, MWG x, y, w, h). 1 and 6 are the worked examples in ../shared/docs/digikam.md;
# 3 and 8 by hand: turned 180° the stored box is (820, 650, 80, 100); turned 90° ccw (orientation 8) it is (850, 100, 100, 80).
EXPECT = {
    1: ("0.1, 0.0625, 0.08, 0.125", (0.14, 0.125, 0.08, 0.125)),
    3: ("0.82, 0.8125, 0.08, 0.125", (0.86, 0.875, 0.08, 0.125)),
    6: ("0.05, 0.775, 0.1, 0.1", (0.1, 0.825, 0.1, 0.1)),
    8: ("0.85, 0.125, 0.1, 0.1", (0.9, 0.175, 0.1, 0.1)),
}
HARD = ["Zoë Ñandú-Łukasz", "Tom & Jerry", "a<b>c", "AC/DC"]

FOREIGN_SIDECAR = """<?xml version="1.0" encoding="UTF-8"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="Other Tool 1.0">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:mwg-rs="http://www.metadataworkinggroup.com/schemas/regions/"
    xmlns:stArea="http://ns.adobe.com/xmp/sType/Area#" xmlns:stDim="http://ns.adobe.com/xap/1.0/sType/Dimensions#"
    xmp:Rating="3">
   <dc:title><rdf:Alt><rdf:li xml:lang="x-default">Sommer &amp; Meer</rdf:li></rdf:Alt></dc:title>
   <dc:subject><rdf:Bag><rdf:li>Holiday</rdf:li></rdf:Bag></dc:subject>
   <mwg-rs:Regions rdf:parseType="Resource">
    <mwg-rs:AppliedToDimensions stDim:w="1000" stDim:h="800" stDim:unit="pixel"/>
    <mwg-rs:RegionList><rdf:Bag>
     <rdf:li rdf:parseType="Resource"><mwg-rs:Name>Foreign Person</mwg-rs:Name><mwg-rs:Type>Face</mwg-rs:Type>
      <mwg-rs:Area stArea:x="0.7" stArea:y="0.5" stArea:w="0.1" stArea:h="0.125" stArea:unit="normalized"/></rdf:li>
    </rdf:Bag></mwg-rs:RegionList>
   </mwg-rs:Regions>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
"""


def sha(p):
    with open(p, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def exiftool_regions(sidecar):
    out = subprocess.run(["exiftool", "-struct", "-j", "-XMP-mwg-rs:RegionInfo", "-XMP-MP:RegionInfoMP",
                          "-XMP-digiKam:TagsList", "-XMP-dc:Title", "-XMP-dc:Subject", sidecar],
                         capture_output=True, check=True).stdout
    return json.loads(out.decode("utf-8"))[0]


def exiv2_keys(sidecar):
    out = subprocess.run(["exiv2", "-px", sidecar], capture_output=True).stdout.decode("utf-8")
    keys = {}
    for line in out.splitlines():
        parts = line.split(None, 3)
        if len(parts) == 4:
            keys.setdefault(parts[0], []).append(parts[3])
        elif len(parts) == 3:
            keys.setdefault(parts[0], []).append("")
    return keys


def mwg_names(info):
    return [r.get("Name") for r in info.get("RegionInfo", {}).get("RegionList", [])]


def as_list(v):
    return v if isinstance(v, list) else ([] if v is None else [v])


with TempDir() as tmp:
    home = os.path.join(tmp, "home")
    photos = os.path.join(tmp, "photos")
    cat = os.path.join(tmp, "catalog.db")
    specs = {f"o{o}.jpg": o for o in EXPECT}
    specs.update({"names.jpg": 1, "merge.jpg": 1, "nobody.jpg": 1})
    make_photos(photos, specs)
    P = {n: os.path.join(photos, n) for n in specs}
    with open(P["merge.jpg"] + ".xmp", "w", encoding="utf-8") as f:
        f.write(FOREIGN_SIDECAR)
    scan(home, cat, photos)
    images_before = {n: sha(p) for n, p in P.items()}

    faces = {P[f"o{o}.jpg"]: [BOX + ("Alice Example", "confirmed", "named")] for o in EXPECT}
    faces[P["names.jpg"]] = [(10 + 110 * i, 400, 100, 100, n, "confirmed", "named") for i, n in enumerate(HARD)] + [
        (500, 100, 60, 60, "Carla Confirmed", None, "confirmed"),   # person confirmed, face not reviewed
        (600, 100, 60, 60, "Sam Suggested", "suggested", "named"),  # only suggested
        (700, 100, 60, 60, "Nina Named", None, "named"),            # person named, face not confirmed
        (800, 100, 60, 60, None, None, None),                       # nobody
        (900, 100, 60, 60, "Rex Rejected", "rejected", "confirmed"),  # rejected: unknown
    ]
    faces[P["merge.jpg"]] = [BOX + ("Alice Example", "confirmed", "named")]
    faces[P["nobody.jpg"]] = [(300, 300, 90, 90, None, None, None)]
    add_faces(cat, faces)

    # ---- first run ----
    r = run(["facecat-digikam", "--catalog", cat, "xmp"], home)
    check_eq(r.rc, 0, "xmp: exit code")
    ev = {os.path.basename(e["path"]): e for e in r.events("xmp")}
    for n in ["o1.jpg", "o3.jpg", "o6.jpg", "o8.jpg", "names.jpg"]:
        check_eq(ev.get(n, {}).get("status"), "created", f"xmp: {n} sidecar created")
    check_eq(ev.get("merge.jpg", {}).get("status"), "updated", "xmp: merge.jpg sidecar merged")
    check("nobody.jpg" not in ev and not os.path.exists(P["nobody.jpg"] + ".xmp"),
          "xmp: no sidecar for a photo with only unknown faces")
    check_eq(ev.get("merge.jpg", {}).get("foreign_region_count"), 1, "xmp: the foreign region is counted as kept")

    first = {}
    for n, p in P.items():
        if os.path.exists(p + ".xmp"):
            first[n] = sha(p + ".xmp")
            text = open(p + ".xmp", encoding="utf-8").read()
            check("Orientation" not in text, f"{n}: the sidecar has no tiff:Orientation")
    check_eq({n: sha(p) for n, p in P.items()}, images_before, "xmp: no image byte changed")

    # ---- real readers: orientations 1, 3, 6, 8 ----
    for o, (mp, mwg) in EXPECT.items():
        side = P[f"o{o}.jpg"] + ".xmp"
        info = exiftool_regions(side)
        ri = info.get("RegionInfo", {})
        check_eq(ri.get("AppliedToDimensions"), {"W": 1000, "H": 800, "Unit": "pixel"},
                 f"exiftool o{o}: AppliedToDimensions is the stored frame")
        regions = ri.get("RegionList", [])
        check_eq(len(regions), 1, f"exiftool o{o}: one MWG region")
        if regions:
            a = regions[0].get("Area", {})
            check_eq((a.get("X"), a.get("Y"), a.get("W"), a.get("H")), mwg, f"exiftool o{o}: MWG area")
            check_eq(regions[0].get("Name"), "Alice Example", f"exiftool o{o}: MWG name")
            check_eq(regions[0].get("Type"), "Face", f"exiftool o{o}: MWG type")
        mpr = info.get("RegionInfoMP", {}).get("Regions", [])
        check_eq([(x.get("PersonDisplayName"), x.get("Rectangle")) for x in mpr], [("Alice Example", mp)],
                 f"exiftool o{o}: MP region")
        check_eq(as_list(info.get("TagsList")), ["People/Alice Example"], f"exiftool o{o}: digiKam:TagsList")

        k = exiv2_keys(side)
        base = "Xmp.mwg-rs.Regions/mwg-rs:RegionList[1]"
        got = tuple(float(k.get(f"{base}/mwg-rs:Area/stArea:{c}", ["nan"])[0]) for c in "xywh")
        check_eq(got, mwg, f"exiv2 o{o}: MWG area")
        check_eq(k.get(f"{base}/mwg-rs:Name"), ["Alice Example"], f"exiv2 o{o}: MWG name")
        check_eq(k.get("Xmp.MP.RegionInfo/MPRI:Regions[1]/MPReg:Rectangle"), [mp], f"exiv2 o{o}: MP rectangle")
        check_eq(k.get("Xmp.digiKam.TagsList"), ["People/Alice Example"], f"exiv2 o{o}: TagsList (an XmpSeq)")
        out = subprocess.run(["exiv2", "-px", side], capture_output=True).stdout.decode()
        check("Xmp.digiKam.TagsList                         XmpSeq" in out, f"exiv2 o{o}: TagsList is an rdf:Seq")

    # ---- hard names and the choice of faces ----
    info = exiftool_regions(P["names.jpg"] + ".xmp")
    want = sorted(HARD + ["Carla Confirmed"])
    check_eq(sorted(mwg_names(info)), want, "names: exiftool reads the hard names back exactly (MWG)")
    check_eq(sorted(x.get("PersonDisplayName") for x in info.get("RegionInfoMP", {}).get("Regions", [])), want,
             "names: exiftool reads the hard names back exactly (MP)")
    check_eq(sorted(as_list(info.get("TagsList"))),
             sorted("People/" + n.replace("/", "\\") for n in want), "names: TagsList, with AC/DC as AC\\DC")
    check_eq(sorted(as_list(info.get("Subject"))), want, "names: dc:subject")
    k = exiv2_keys(P["names.jpg"] + ".xmp")
    exiv2_names = sorted(v for key, vals in k.items() if key.endswith("/mwg-rs:Name") for v in vals)
    check_eq(exiv2_names, want, "names: exiv2 reads the hard names back exactly")
    # Areas: each hard-named face where it was put (orientation 1: display = stored)
    for reg in info.get("RegionInfo", {}).get("RegionList", []):
        if reg.get("Name") in HARD:
            i = HARD.index(reg["Name"])
            a = reg["Area"]
            check_eq((round(a["X"] * 1000), round(a["Y"] * 800)), (10 + 110 * i + 50, 450),
                     f"names: centre of {reg['Name']!r}")

    merged = exiftool_regions(P["merge.jpg"] + ".xmp")
    check_eq(merged.get("Title"), "Sommer & Meer", "merge: dc:title survives")
    check_eq(sorted(mwg_names(merged)), ["Alice Example", "Foreign Person"], "merge: the foreign region survives")
    check_eq(sorted(as_list(merged.get("Subject"))), ["Alice Example", "Holiday"], "merge: dc:subject keeps Holiday")
    k = exiv2_keys(P["merge.jpg"] + ".xmp")
    check_eq(k.get("Xmp.xmp.Rating"), ["3"], "merge: another namespace's property survives (exiv2)")
    check(["Foreign Person"] in [v for key, v in k.items() if key.endswith("/mwg-rs:Name")],
          "merge: exiv2 reads the foreign region")

    # ---- idempotence ----
    r = run(["facecat-digikam", "--catalog", cat, "xmp"], home)
    check_eq(r.rc, 0, "second run: exit code")
    check_eq(sorted({e["status"] for e in r.events("xmp")}), ["unchanged"], "second run: every sidecar unchanged")
    check_eq({n: sha(P[n] + ".xmp") for n in first}, first, "second run: identical bytes (sha256)")

    # ---- suggested and unknown faces on request, and back ----
    r = run(["facecat-digikam", "--catalog", cat, "xmp", "--include-suggested", "--include-unknown"], home)
    check_eq(r.rc, 0, "--include-suggested --include-unknown: exit code")
    info = exiftool_regions(P["names.jpg"] + ".xmp")
    names = mwg_names(info)
    check_eq(sorted(n for n in names if n), sorted(want + ["Nina Named", "Sam Suggested"]),
             "include: suggested names are written")
    check_eq(names.count(None), 2, "include: the unknown and the rejected face are unnamed regions")
    check(os.path.exists(P["nobody.jpg"] + ".xmp"), "include: a photo with only unknown faces gets a sidecar")
    check_eq(sorted(mwg_names(exiftool_regions(P["merge.jpg"] + ".xmp"))), ["Alice Example", "Foreign Person"],
             "include: merge.jpg still has exactly one facecat region and the foreign one")
    r = run(["facecat-digikam", "--catalog", cat, "xmp"], home)
    check_eq({n: sha(P[n] + ".xmp") for n in first}, first, "back to confirmed only: the first run's bytes again")
    nobody = exiftool_regions(P["nobody.jpg"] + ".xmp")
    check_eq(mwg_names(nobody), [], "back to confirmed only: the unnamed region is taken out again")

    # ---- a renamed person: the old name leaves, foreign data stays ----
    import sqlite3
    db = sqlite3.connect(cat)
    db.execute("UPDATE people SET name = 'Alicia Example' WHERE name = 'Alice Example'")
    db.commit()
    db.close()
    r = run(["facecat-digikam", "--catalog", cat, "xmp"], home)
    merged = exiftool_regions(P["merge.jpg"] + ".xmp")
    check_eq(sorted(mwg_names(merged)), ["Alicia Example", "Foreign Person"], "rename: regions renamed")
    check_eq(sorted(as_list(merged.get("Subject"))), ["Alicia Example", "Holiday"], "rename: dc:subject updated")
    check_eq(as_list(merged.get("TagsList")), ["People/Alicia Example"], "rename: TagsList updated")
    check_eq(merged.get("Title"), "Sommer & Meer", "rename: dc:title still there")

    # ---- compatible names ----
    r = run(["facecat-digikam", "--catalog", cat, "xmp", "--compat-names"], home)
    check_eq(r.rc, 0, "--compat-names: exit code")
    check(os.path.exists(os.path.join(photos, "o6.xmp")), "--compat-names: o6.xmp written")
    info = exiftool_regions(os.path.join(photos, "o6.xmp"))
    check_eq(info.get("RegionInfoMP", {}).get("Regions", [{}])[0].get("Rectangle"), EXPECT[6][0],
             "--compat-names: the same regions")
    check(b"digiKam reads only one of them" in r.stderr, "--compat-names: warns that both names exist")

    # ---- a broken sidecar is reported and left alone ----
    broken = P["o3.jpg"] + ".xmp"
    with open(broken, "w") as f:
        f.write("<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF")
    before = sha(broken)
    r = run(["facecat-digikam", "--catalog", cat, "xmp"], home)
    check_eq(r.rc, 1, "broken sidecar: exit code 1")
    errs = r.events("error")
    check(len(errs) == 1 and errs[0]["path"] == broken and "not well-formed" in errs[0]["reason"],
          f"broken sidecar: one error event naming it ({errs})")
    check_eq(sha(broken), before, "broken sidecar: left alone")
    check_eq(len(r.events("xmp")), 6, "broken sidecar: the other sidecars are still processed")

    # ---- CSV ----
    out = os.path.join(tmp, "faces.csv")
    r = run(["facecat-digikam", "--catalog", cat, "csv", "-o", out], home)
    check_eq(r.rc, 0, "csv: exit code")
    check_eq([e.get("row_count") for e in r.events("csv")], [4 + 5 + 1], "csv: one event with the row count")
    rows = list(csv.reader(io.StringIO(open(out, encoding="utf-8", newline="").read())))
    check_eq(rows[0], ["path", "name", "x", "y", "width", "height"], "csv: header")
    byp = {}
    for row in rows[1:]:
        byp.setdefault(os.path.basename(row[0]), []).append(row[1:])
    check_eq(byp.get("o6.jpg"), [["Alicia Example", "100", "50", "80", "100"]], "csv: display-frame pixels")
    check_eq(sorted(x[0] for x in byp.get("names.jpg", [])), want, "csv: hard names quoted and read back")
    r = run(["facecat-digikam", "--catalog", cat, "csv", "-o", "-", "--include-unknown"], home)
    lines = r.stdout.decode().splitlines()
    check_eq(len(lines), 1 + 4 + 5 + 1 + 3, "csv to stdout with --include-unknown: header + rows")

    # ---- several pipeline versions: the configured one wins, else the newest detection ----
    add_faces(cat, {P["o1.jpg"]: [(200, 200, 80, 80, "Newer Pipeline", "confirmed", "named")]},
              pipeline_version="v2", configure=False, processed_at=int(time.time()) + 60)
    r = run(["facecat-digikam", "--catalog", cat, "xmp"], home)
    check_eq(mwg_names(exiftool_regions(P["o1.jpg"] + ".xmp")), ["Alicia Example"],
             "pipelines: the configured pipeline's faces (faces.pipeline = default -> v1)")
    r = run(["facecat-digikam", "--catalog", cat, "--pipeline", "unknown-pipeline", "xmp"], home)
    check_eq(mwg_names(exiftool_regions(P["o1.jpg"] + ".xmp")), ["Newer Pipeline"],
             "pipelines: an unknown pipeline name falls back to the newest detection")

finish()
