"""Bad and unusual inputs to facecat-detect (PATH mode): each gets a correct result or exactly one clear error,
and the run goes on (exit 1 at the end when any failed). Images made with ImageMagick from a small face photo."""
import os
import re
import struct
import subprocess
import zlib

from detect_fixture import check_record_schema, env_for, photo, results
from facecat_test import TempDir, check, check_eq, check_locale, finish, need_program, run

check_locale()
convert = need_program("convert")


def png_header_bomb(path, w, h):
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
    data += chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(data)


with TempDir() as tmp:
    home = os.path.join(tmp, "home")
    d = os.path.join(tmp, "in")
    os.makedirs(d)
    src = photo("obama", "obama_small.jpg")
    alpha = photo("obama", "32bit.png")
    with open(src, "rb") as f:
        jpeg = f.read()

    def im(name, *args, source=src):
        p = os.path.join(d, name)
        subprocess.run([convert, source, *args, p], check=True, capture_output=True)
        return p

    def raw(name, data):
        p = os.path.join(d, name)
        with open(p, "wb") as f:
            f.write(data)
        return p

    cases = {  # path -> expected: "face" (>= 1 face), "none" (faces:0), "error"
        im("gray.jpg", "-colorspace", "Gray"): "face",
        im("cmyk.jpg", "-colorspace", "CMYK"): "face",
        im("deep.png", "-depth", "16"): "face",
        alpha: "face",
        im("photo.webp"): "face",
        im("flat.png", "-fill", "gray", "-draw", "rectangle 0,0 400,400"): "none",
        im("one.png", "-resize", "1x1!"): "none",
        raw("truncated.jpg", jpeg[: len(jpeg) // 2]): "error",
        raw("corrupt.jpg", jpeg[:200] + bytes(range(256)) * 40): "error",
        raw("empty.jpg", b""): "error",
        raw("text.jpg", b"not an image at all\n"): "error",
    }
    # PNG with its pixel data cut short, and a JPEG with garbage in its entropy-coded data but an intact end:
    # libpng's and libjpeg's own words must reach the file's line, not a stray stderr line of their own.
    with open(alpha, "rb") as f:
        png = f.read()
    idat = png.index(b"IDAT")
    trunc_png = raw("short_idat.png", png[:idat + 4 + 64] + png[png.rindex(b"IEND") - 4:])
    cases[trunc_png] = "error"
    mid = bytearray(jpeg)
    for i in range(len(mid) // 2, len(mid) // 2 + 300):
        mid[i] = 0xFF if i % 3 == 0 else 0xAA
    garbled = raw("garbled.jpg", bytes(mid))
    cases[garbled] = "decoded"
    bomb = os.path.join(d, "bomb.png")
    png_header_bomb(bomb, 20000, 20000)
    cases[bomb] = "error"
    try:
        cases[im("photo.heic")] = "face"
    except subprocess.CalledProcessError:
        print("note: ImageMagick cannot write HEIC here; HEIC case left out")

    paths = sorted(cases)
    r = run(["facecat-detect", "--no-crops"] + paths, home, env=env_for(tmp), timeout=300)
    check_eq(r.rc, 1, "exit 1: some inputs failed, the run went on")
    recs = results(r.jsonl())
    err = r.stderr.decode("utf-8", "replace")
    by_file = {}
    for x in recs:
        check_record_schema(x, os.path.basename(x["path"]))
        by_file.setdefault(x["path"], []).append(x)
    check_eq(sorted(by_file), paths, "every input has a result, in input order")
    check_eq([x["path"] for x in recs if x.get("face_index", 0) == 0], [p for p in paths], "records in input order")
    for p, want in cases.items():
        got = by_file.get(p, [])
        brief = [{k: x[k] for k in ("event", "face_count", "face_index", "box", "reason") if k in x} for x in got]
        name = os.path.basename(p)
        if want == "decoded":
            check(len(got) >= 1 and got[0]["event"] != "error", f"{name}: decoded anyway ({brief})")
        elif want == "face":
            check(len(got) >= 1 and all(x["event"] == "face" for x in got), f"{name}: face found ({brief})")
        elif want == "none":
            check(len(got) == 1 and got[0].get("face_count") == 0, f"{name}: one face_count:0 record ({brief})")
        else:
            check(len(got) == 1 and got[0]["event"] == "error", f"{name}: one error record ({brief})")
            check_eq(sum(1 for line in err.splitlines() if p in line), 1, f"{name}: one log line")
    check(any("garbled.jpg" in line and "warning" in line and "Corrupt JPEG data" in line for line in err.splitlines()),
          "garbled.jpg: one warning line names the file and gives libjpeg's reason")
    check("corrupt or truncated" not in by_file[trunc_png][0].get("reason", "corrupt or truncated"),
          f"short_idat.png: the error gives libpng's reason ({by_file[trunc_png][0].get('reason')})")
    stray = [line for line in err.splitlines() if line and not re.match(r"\d{4}-\d\d-\d\dT\S+ facecat-detect\[", line)]
    check_eq(stray, [], "every stderr line is facecat's own (no libpng/libjpeg lines without a file name)")
    check("20000" in by_file[bomb][0].get("reason", "") or "pixels" in by_file[bomb][0].get("reason", ""),
          f"the bomb's error names its size ({by_file[bomb][0].get('reason')})")
finish()
