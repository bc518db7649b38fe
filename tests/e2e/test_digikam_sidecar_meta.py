#!/usr/bin/env python3
"""facecat-digikam xmp keeps the photo's own metadata: a new sidecar starts from the photo's embedded XMP plus its
EXIF and IPTC converted to XMP (Exiv2), because digiKam reading sidecars takes the sidecar instead of the photo.
For every photo of the digikam79 fixture, each caption, copyright, creator, location and label field that exiftool
reads from the photo (MWG's reconciliation of EXIF, IPTC and XMP) reads the same from facecat's new sidecar; the
regions are there too, no tiff:Orientation is written, a second run changes nothing, and a sidecar that an older
facecat wrote with faces only is rebuilt with the photo's metadata."""
import hashlib
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from facecat_test import TempDir, check, check_eq, check_locale, finish, need_program, need_testdata, run  # noqa: E402
from digikam_fixture import add_faces, scan  # noqa: E402

check_locale()
need_program("exiftool")
PHOTOS79 = need_testdata("digikam", "digikam79", "photos")
FIELDS = ["MWG:Description", "MWG:Copyright", "MWG:Creator", "MWG:City", "MWG:State", "MWG:Country",
          "MWG:Location", "XMP:Label", "XMP:Rating", "XMP-digiKam:ColorLabel", "XMP-photoshop:Headline",
          "XMP-dc:Title"]
BOX = (40, 60, 120, 150)


def fields(path):
    out = subprocess.run(["exiftool", "-j", "-use", "MWG", "-charset", "iptc=UTF8"] + ["-" + f for f in FIELDS]
                         + [path], capture_output=True, check=True).stdout
    d = json.loads(out.decode("utf-8"))[0]
    d.pop("SourceFile", None)
    # exiftool strips the padding of EXIF's fixed-size ASCII fields; XMP keeps a value's trailing blank.
    return {k: v.strip() if isinstance(v, str) else v for k, v in d.items()}


def sha(p):
    with open(p, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


with TempDir() as tmp:
    home = os.path.join(tmp, "home")
    photos = os.path.join(tmp, "photos")
    shutil.copytree(PHOTOS79, photos)
    all_photos = []
    for d, _, fs in os.walk(photos):
        os.chmod(d, 0o755)
        for f in fs:
            os.chmod(os.path.join(d, f), 0o644)
            all_photos.append(os.path.join(d, f))
    all_photos.sort()
    cat = os.path.join(tmp, "catalog.db")
    scan(home, cat, photos)
    add_faces(cat, {p: [BOX + ("Some One", "confirmed", "named")] for p in all_photos})

    # An older facecat's face-only sidecar for one photo: rebuilt with the photo's metadata.
    old = os.path.join(photos, "obama", "obama.jpg.xmp")
    with open(old, "w") as f:
        f.write('<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n<x:xmpmeta xmlns:x="adobe:ns:meta/" '
                'x:xmptk="facecat">\n <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
                '  <rdf:Description rdf:about=""/>\n </rdf:RDF>\n</x:xmpmeta>\n<?xpacket end="w"?>\n')

    r = run(["facecat-digikam", "--catalog", cat, "xmp"], home)
    check_eq(r.rc, 0, f"xmp: exit code ({r.stderr[-300:]!r})")
    ev = r.events("xmp")
    check_eq(len(ev), len(all_photos), "xmp: one sidecar per photo")
    counts = {"with_photo_fields": 0, "fields": 0}
    for p in all_photos:
        side = p + ".xmp"
        if not os.path.exists(side):
            check(False, f"{p}: no sidecar")
            continue
        want, got = fields(p), fields(side)
        counts["fields"] += len(want)
        counts["with_photo_fields"] += bool(want)
        rel = os.path.relpath(p, photos)
        check_eq({k: got.get(k) for k in want}, want, f"{rel}: the photo's fields read the same from the sidecar")
        reg = json.loads(subprocess.run(["exiftool", "-j", "-struct", "-XMP-mwg-rs:RegionInfo", "-XMP-tiff:Orientation",
                                         side], capture_output=True, check=True).stdout.decode())[0]
        check_eq([x.get("Name") for x in reg.get("RegionInfo", {}).get("RegionList", [])], ["Some One"],
                 f"{rel}: facecat's region is in the sidecar")
        check("Orientation" not in reg, f"{rel}: no tiff:Orientation in the sidecar")
    print(f"photos with caption/copyright/creator/location/label fields: {counts['with_photo_fields']} of "
          f"{len(all_photos)}, {counts['fields']} fields in all")
    check(counts["with_photo_fields"] >= 3 and counts["fields"] >= 10,
          "the fixture has photos with their own metadata (otherwise this test proves nothing)")
    check_eq([e["status"] for e in ev if e["path"] == os.path.join(photos, "obama", "obama.jpg")], ["updated"],
             "an older facecat's face-only sidecar is rebuilt")

    before = {p: sha(p + ".xmp") for p in all_photos}
    r = run(["facecat-digikam", "--catalog", cat, "xmp"], home)
    check_eq(r.rc, 0, "second run: exit code")
    check_eq(sorted({e["status"] for e in r.events("xmp")}), ["unchanged"], "second run: every sidecar unchanged")
    check_eq({p: sha(p + ".xmp") for p in all_photos}, before, "second run: the same bytes")

finish()
