#!/usr/bin/env python3
"""The bad-input corpus (issue 8): images, videos, names, JSONL and config that are broken in every way we could
think of, generated here (nothing is committed). For each kind:
- no crash: exit code < 128 and no sanitizer report (CI runs this test against the ASan/UBSan build too);
- exactly one clear line on stderr naming the file (and the reason, checked against the expected text);
- the run goes on: the good files beside the bad ones are registered, and the catalog checks clean.
Kinds that are valid but hostile (a 20000x20000 header, a PNG named .jpg, symlink loops, a fifo) must be handled
without an error, a hang or a read of the whole pixel data.

Run against other binaries with FACECAT_BIN_DIR (scripts/test does so for build-asan)."""
import os
import shutil
import socket
import sqlite3
import struct
import subprocess
import sys
import zlib

sys.path.insert(0, os.path.dirname(__file__))
from facecat_test import (TempDir, check, check_eq, check_locale, clean_env, finish, need_program, path_of,  # noqa: E402
                          run, tool, BIN_DIR, Result)

SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:", "UndefinedBehaviorSanitizer",
                   "AddressSanitizer:DEADLYSIGNAL")


def no_crash(rc, stderr, what):
    text = stderr.decode("utf-8", "replace")
    report = next((m for m in SANITIZER_MARKS if m in text), None)
    check(0 <= rc < 128 and report is None,
          f"{what}: no crash (exit {rc}{', sanitizer: ' + report if report else ''})"
          + (f"\n{text[-3000:]}" if report or rc >= 128 or rc < 0 else ""))


def lines_naming(stderr, name):
    """The lines that name a file; the repeated command line after a usage error is an echo, not another error."""
    return [l for l in stderr.decode("utf-8", "replace").splitlines() if name in l and "command line was:" not in l]


# ---- building blocks --------------------------------------------------------------------------------------------
def tiff_block(entries, ifd_offset=8, count=None, next_ifd=0, tail=b""):
    """A little-endian TIFF/EXIF block: entries are (tag, type, count, 4-byte value field)."""
    n = len(entries) if count is None else count
    ifd = struct.pack("<H", n) + b"".join(struct.pack("<HHI", t, ty, c) + v for t, ty, c, v in entries)
    return b"II*\0" + struct.pack("<I", ifd_offset) + ifd + struct.pack("<I", next_ifd) + tail


def short(v):
    return struct.pack("<HH", v, 0)


def with_exif(jpeg, tiff):
    payload = b"Exif\0\0" + tiff
    return jpeg[:2] + b"\xFF\xE1" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


def find_sof(jpeg):
    i = 2
    while i + 4 <= len(jpeg):
        marker, length = jpeg[i + 1], struct.unpack(">H", jpeg[i + 2:i + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return i
        i += 2 + length
    raise RuntimeError("no SOF in the base JPEG")


def set_jpeg_size(jpeg, w, h):
    sof = find_sof(jpeg)
    b = bytearray(jpeg)
    b[sof + 5:sof + 9] = struct.pack(">HH", h, w)
    return bytes(b)


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff)


def png_bomb(w, h):
    """A valid 1-bit greyscale PNG of w x h zero pixels: a few tens of KiB that decode to w*h pixels."""
    row = b"\0" * (1 + (w + 7) // 8)
    c = zlib.compressobj(9)
    idat = b"".join(c.compress(row) for _ in range(h)) + c.flush()
    ihdr = struct.pack(">IIBBBBB", w, h, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def media(tmp):
    """Good small files made with ImageMagick and ffmpeg: the material the bad kinds are cut from."""
    d = os.path.join(tmp, "base")
    os.makedirs(d)
    need_program("convert")
    need_program("ffmpeg")
    out = {}
    subprocess.run(["convert", "-size", "64x48", "gradient:red-blue", os.path.join(d, "b.jpg")], check=True)
    for ext in ("png", "webp", "heic"):
        subprocess.run(["convert", os.path.join(d, "b.jpg"), os.path.join(d, "b." + ext)], check=True)
    for name, args in {
        "v.mp4": ["-f", "lavfi", "-i", "testsrc=size=64x48:rate=10", "-t", "1"],
        "v.mov": ["-f", "lavfi", "-i", "testsrc=size=64x48:rate=10", "-t", "1"],
        "v.mkv": ["-f", "lavfi", "-i", "testsrc=size=64x48:rate=10", "-t", "1"],
        "v.webm": ["-f", "lavfi", "-i", "testsrc=size=64x48:rate=10", "-t", "1", "-c:v", "libvpx"],
        "v.avi": ["-f", "lavfi", "-i", "testsrc=size=64x48:rate=10", "-t", "1"],
        "audio.mp4": ["-f", "lavfi", "-i", "sine=d=0.5"],
        "zero.mp4": ["-f", "lavfi", "-i", "testsrc=size=64x48:rate=10", "-frames:v", "0"],
    }.items():
        subprocess.run(["ffmpeg", "-loglevel", "error", "-y"] + args + [os.path.join(d, name)], check=True)
    for f in os.listdir(d):
        out[f] = open(os.path.join(d, f), "rb").read()
    return out


def cut(data, frac):
    return data[:int(len(data) * frac)]


# ---- the image and video kinds: (file name, bytes or None for special ones, expected outcome) -------------------
# outcome: ("error" or "warning", [any of these substrings in the reason]) | ("ok", check function or None) |
# ("skip", None)
def media_kinds(m):
    jpg, png, webp, heic = m["b.jpg"], m["b.png"], m["b.webp"], m["b.heic"]
    k = []
    # JPEG
    k.append(("jpeg-truncated.jpg", cut(jpg, 0.6), ("error", ["truncated JPEG"])))
    k.append(("jpeg-garbage-after-app0.jpg", jpg[:20] + bytes(range(1, 200)), ("error", ["corrupt JPEG"])))
    k.append(("jpeg-headers-only.jpg", jpg[:find_sof(jpg)], ("error", ["truncated JPEG", "corrupt JPEG"])))
    k.append(("jpeg-zero-size.jpg", set_jpeg_size(jpg, 0, 48), ("error", ["zero width"])))
    bad_len = bytearray(jpg)
    bad_len[4:6] = b"\0\1"  # APP0's length
    k.append(("jpeg-bad-segment-length.jpg", bytes(bad_len), ("error", ["bad segment length"])))
    k.append(("jpeg-bomb-20000x20000.jpg", set_jpeg_size(jpg, 20000, 20000),
              ("ok", lambda e: e.get("width") == 20000 and e.get("height") == 20000)))
    # PNG
    k.append(("png-truncated.png", cut(png, 0.5), ("error", ["truncated PNG"])))
    k.append(("png-no-ihdr.png", png.replace(b"IHDR", b"IHDX", 1), ("error", ["no IHDR"])))
    zero = bytearray(png)
    zero[16:20] = b"\0\0\0\0"
    k.append(("png-zero-size.png", bytes(zero), ("error", ["zero width"])))
    k.append(("png-bomb-20000x20000.png", png_bomb(20000, 20000),
              ("ok", lambda e: e.get("width") == 20000 and e.get("height") == 20000)))
    k.append(("png-named.jpg", png, ("ok", lambda e: e.get("format") == "png")))
    # WebP
    k.append(("webp-truncated.webp", cut(webp, 0.5), ("error", ["truncated WebP"])))
    k.append(("webp-unknown-chunk.webp", webp[:12] + b"ABCD" + webp[16:], ("error", ["unknown chunk"])))
    if webp[12:16] == b"VP8 ":
        k.append(("webp-bad-frame-tag.webp", webp[:23] + b"\0\0\0" + webp[26:], ("error", ["bad VP8 frame tag"])))
    # HEIC (libheif)
    k.append(("heic-truncated.heic", cut(heic, 0.4), ("error", ["corrupt HEIC"])))
    k.append(("heic-garbage.heic", heic[:24] + b"\x00\x00\x00\x10garbagegarbage" * 8, ("error", ["corrupt HEIC"])))
    # TIFF, BMP
    k.append(("tiff-ifd-outside.tif", b"II*\0" + struct.pack("<I", 0xFFFFFF00) + b"\0" * 16, ("error", ["TIFF"])))
    bmp = b"BM" + struct.pack("<IHHI", 70, 0, 0, 54) + struct.pack("<IiiHHIIiiII", 40, -5, 0, 1, 24, 0, 0, 0, 0, 0, 0)
    k.append(("bmp-bad-size.bmp", bmp + b"\0" * 16, ("error", ["bad dimensions"])))
    # empty, wrong magic
    k.append(("zero-byte.jpg", b"", ("error", ["empty file"])))
    k.append(("wrong-magic.jpg", b"this is a text file, not a photo\n" * 20, ("error", ["not an image or video"])))
    k.append(("wrong-magic-elf.png", b"\x7fELF\x02\x01\x01" + b"\0" * 100, ("error", ["not an image or video"])))
    # EXIF
    k.append(("exif-ifd-offset-absurd.jpg", with_exif(jpg, tiff_block([(0x0112, 3, 1, short(1))], ifd_offset=0xFFFFFFF0)),
              ("warning", ["EXIF"])))
    for v in (0, 9, 65535):
        k.append((f"exif-orientation-{v}.jpg", with_exif(jpg, tiff_block([(0x0112, 3, 1, short(v))])),
                  ("warning", [f"orientation {v} is out of range"])))
    k.append(("exif-entry-count-absurd.jpg", with_exif(jpg, tiff_block([(0x0112, 3, 1, short(1))], count=0xFFFF)),
              ("warning", ["claims 65535 entries"])))
    k.append(("exif-value-offset-absurd.jpg",
              with_exif(jpg, tiff_block([(0x010F, 2, 100, struct.pack("<I", 0x7FFFFFF0)), (0x0112, 3, 1, short(1))])),
              ("warning", ["runs past"])))
    k.append(("exif-ifd-loop.jpg",  # the EXIF sub-IFD pointer leads back to IFD0
              with_exif(jpg, tiff_block([(0x0112, 3, 1, short(1)), (0x8769, 4, 1, struct.pack("<I", 8))], next_ifd=8)),
              ("warning", ["IFD loop"])))
    # names
    k.append((b"name-not-utf8-\xff\xfe.jpg", cut(jpg, 0.6), ("error", ["truncated JPEG"])))
    k.append(("name-with\nnewline.jpg", cut(jpg, 0.6), ("error", ["truncated JPEG"])))
    # videos
    k.append(("mp4-truncated.mp4", cut(m["v.mp4"], 0.5), ("error", ["truncated MP4", "moov"])))
    bad_box = bytearray(m["v.mp4"])
    bad_box[0:4] = struct.pack(">I", 3)
    k.append(("mp4-impossible-box-size.mp4", bytes(bad_box), ("error", ["impossible size"])))
    k.append(("mp4-audio-only.mp4", m["audio.mp4"], ("error", ["no video track"])))
    k.append(("mp4-zero-frames.mp4", m["zero.mp4"], ("any", None)))
    k.append(("mov-truncated.mov", cut(m["v.mov"], 0.5), ("error", ["truncated MP4", "moov"])))
    k.append(("mkv-truncated.mkv", m["v.mkv"][:60], ("error", ["Matroska", "no video track"])))
    k.append(("mkv-garbage.mkv", m["v.mkv"][:4] + b"\xff" * 64, ("error", ["Matroska", "no video track"])))
    k.append(("webm-truncated.webm", m["v.webm"][:80], ("error", ["Matroska", "no video track"])))
    k.append(("avi-bad-header.avi", b"RIFF" + struct.pack("<I", 1000) + b"AVI " + b"\0" * 100, ("error", ["corrupt AVI"])))
    k.append(("avi-truncated.avi", cut(m["v.avi"], 0.5), ("error", ["truncated AVI"])))
    # the good ones that must still be registered
    k.append(("good.jpg", jpg, ("ok", None)))
    k.append(("good.mp4", m["v.mp4"], ("ok", None)))
    return k


def main():
    check_locale()
    with TempDir() as tmp:
        home = os.path.join(tmp, "home")
        m = media(tmp)
        corpus = os.path.join(tmp, "corpus")
        os.makedirs(corpus)
        kinds = media_kinds(m)
        for name, data, _ in kinds:
            p = os.path.join(corpus.encode(), name if isinstance(name, bytes) else name.encode())
            with open(p, "wb") as f:
                f.write(data)
            os.chmod(p, 0o666)
        # unreadable file and folder; symlink loops; a fifo
        as_nobody = os.geteuid() == 0 and shutil.which("setpriv")
        can_deny = as_nobody or os.geteuid() != 0
        if can_deny:
            p = os.path.join(corpus, "unreadable.jpg")
            open(p, "wb").write(m["b.jpg"])
            os.chmod(p, 0)
            kinds.append(("unreadable.jpg", None, ("error", ["Permission denied"])))
            os.makedirs(os.path.join(corpus, "unreadable-dir"))
            open(os.path.join(corpus, "unreadable-dir", "inside.jpg"), "wb").write(m["b.jpg"])
            os.chmod(os.path.join(corpus, "unreadable-dir"), 0)
            kinds.append(("unreadable-dir", None, ("error", ["cannot read folder"])))
        loops = os.path.join(corpus, "loops")
        os.makedirs(loops)
        os.symlink(".", os.path.join(loops, "self"))
        os.symlink("..", os.path.join(loops, "parent"))
        os.symlink("link-b.jpg", os.path.join(loops, "link-a.jpg"))
        os.symlink("link-a.jpg", os.path.join(loops, "link-b.jpg"))
        kinds += [("self", None, ("skip", None)), ("parent", None, ("skip", None)),
                  ("link-a.jpg", None, ("skip", None)), ("link-b.jpg", None, ("skip", None))]
        os.mkfifo(os.path.join(corpus, "fifo.jpg"))
        kinds.append(("fifo.jpg", None, ("skip", None)))
        for d in (corpus, loops):
            os.chmod(d, 0o777)
        os.chmod(tmp, 0o755)
        catdir = os.path.join(tmp, "cat")
        os.makedirs(catdir)
        os.chmod(catdir, 0o777)
        cat = os.path.join(catdir, "catalog.db")

        # ---- one scan over everything (as nobody when root, so that unreadable files really are) ---------------
        cmd = [tool("facecat-scan"), corpus, "--catalog", cat, "--follow-symlinks"]
        if as_nobody:
            cmd = [shutil.which("setpriv"), "--reuid=65534", "--regid=65534", "--clear-groups"] + cmd
        p = subprocess.run(cmd, capture_output=True, env=clean_env("/tmp" if as_nobody else home), timeout=300)
        no_crash(p.returncode, p.stderr, "scan of the corpus")
        check_eq(p.returncode, 1, "the scan reports that some inputs failed (exit 1)")
        r = Result(p)
        events = r.jsonl()
        by_name = {}
        for e in events:
            if "path" in e:
                by_name.setdefault(os.path.basename(path_of(e)), []).append(e)
        n_kinds = 0
        for name, _, (outcome, expect) in kinds:
            bname = name if isinstance(name, bytes) else name.encode()
            shown = bname.decode("utf-8", "replace").replace("\n", "\\n")
            evs = by_name.get(bname, [])
            errs = [e for e in evs if e["event"] == "error"]
            logged = lines_naming(p.stderr, shown)
            n_kinds += 1
            if outcome == "error":
                ok = len(errs) == 1 and any(x in errs[0]["reason"] for x in expect)
                check(ok, f"{shown}: one error event with {expect} (got {[e.get('reason') for e in errs]})")
                check_eq(len(logged), 1, f"{shown}: exactly one stderr line names it")
                if logged:
                    check(any(x in logged[0] for x in expect), f"{shown}: the line gives the reason ({logged[0]!r})")
            elif outcome == "warning":  # registered and usable: a warning event that flows on to detect
                warns = [e for e in evs if e["event"] == "warning"]
                ok = len(warns) == 1 and not errs and any(x in warns[0]["reason"] for x in expect) \
                    and warns[0].get("kind") == "image" and warns[0].get("change") == "new"
                check(ok, f"{shown}: one warning event with {expect}, no error ({evs})")
                check_eq(len(logged), 1, f"{shown}: exactly one stderr line names it")
            elif outcome == "ok":
                new = [e for e in evs if e["event"] == "new"]
                check(len(new) == 1 and not errs and (expect is None or expect(new[0])),
                      f"{shown}: registered without an error ({evs})")
                check_eq(len(logged), 0, f"{shown}: no stderr line")
            elif outcome == "skip":
                check_eq(evs, [], f"{shown}: skipped without an event")
                check(len(logged) <= 1, f"{shown}: at most one stderr line")
            else:  # any: usable or an error, but never more than one line or event
                check(len(evs) == 1, f"{shown}: exactly one event ({evs})")
                check(len(logged) <= 1, f"{shown}: at most one stderr line ({logged})")
        for e in events:
            if e.get("event") == "error" and "path_b64" in e:
                check(b"\xff\xfe" in path_of(e), "the non-UTF-8 name is carried losslessly in path_b64")
        inside = [e for e in events if b"inside.jpg" in path_of(e)] if "path" in str(events) else []
        check_eq(inside, [], "nothing was read from the unreadable folder")
        r2 = run(["facecat-catalog", "check", "--catalog", cat], home)
        no_crash(r2.rc, r2.stderr, "catalog check")
        check_eq(r2.rc, 0, "the catalog checks clean after the corpus")
        con = sqlite3.connect(cat)
        status = con.execute("SELECT status FROM scans ORDER BY id DESC LIMIT 1").fetchone()
        con.close()
        check_eq(status, ("done",), "the scan ran to the end")

        # ---- JSONL: facecat-vk notify --from-match (a message is never built from a broken record) -------------
        n_kinds += jsonl_kinds(tmp, home)
        # ---- JSONL: facecat-catalog ingest (a bad line is reported and skipped, the rest goes in) -------------
        n_kinds += ingest_kinds(tmp, home)
        # ---- config.ini ---------------------------------------------------------------------------------------
        n_kinds += config_kinds(tmp, home, cat)
        print(f"{n_kinds} kinds of bad input")
        check(n_kinds >= 30, "at least 30 kinds")
    finish()


def jsonl_kinds(tmp, home):
    if not os.path.exists(os.path.join(BIN_DIR, "facecat-vk")):
        print(f"note: {BIN_DIR}/facecat-vk was not built; JSONL kinds skipped")
        return 0
    kinds = [
        ("wrong-type-name.jsonl", b'{"name": 5, "vk_id": 1}\n', '"name" is not a string', ":1:"),
        ("wrong-type-id.jsonl", b'{"name": "A", "vk_id": 1}\n{"name": "B", "vk_id": [1, 2]}\n', "not a VK id", ":2:"),
        ("invalid-utf8.jsonl", b'{"name": "A\xff\xfe", "vk_id": 1}\n', "not valid UTF-8", ":1:"),
        ("not-an-object.jsonl", b'[1, 2, 3]\n', "not a JSON object", ":1:"),
        ("not-json.jsonl", b'{"name": "A", "vk_id": 1}\n{"name": \n', "not a JSON object", ":2:"),
        ("huge-line.jsonl", b'{"name": "' + b"x" * (2 << 20) + b'\n', "not a JSON object", ":1:"),
        ("no-records.jsonl", b'{"event": "summary"}\n\n', "no match records", "no-records.jsonl"),
    ]
    for name, data, reason, where in kinds:
        f = os.path.join(tmp, name)
        open(f, "wb").write(data)
        r = run(["facecat-vk", "notify", "--user", "1", "--from-match", f, "--dry-run"], home)
        no_crash(r.rc, r.stderr, f"JSONL {name}")
        check_eq(r.rc, 2, f"JSONL {name}: refused with exit 2")
        logged = lines_naming(r.stderr, name)
        check(len(logged) == 1 and reason in logged[0] and where in logged[0],
              f"JSONL {name}: one line naming the file, line and reason {reason!r} ({logged!r})")
        check(len(r.stderr) < 4096, f"JSONL {name}: a short message ({len(r.stderr)} bytes)")
        check_eq(r.stdout, b"", f"JSONL {name}: no message was built")
    # a huge but valid record is fine: the message is cut to VK's limit
    f = os.path.join(tmp, "huge-valid.jsonl")
    open(f, "wb").write(b'{"name": "' + b"y" * (2 << 20) + b'", "vk_id": 1}\n{"name": "Z", "vk_id": 2}\n')
    r = run(["facecat-vk", "notify", "--user", "1", "--from-match", f, "--dry-run"], home)
    no_crash(r.rc, r.stderr, "JSONL huge valid line")
    check(r.rc == 0 and len(r.jsonl()[0]["message"]) <= 9000, "JSONL huge valid line: the message is cut to the limit")
    return len(kinds) + 1


def ingest_kinds(tmp, home):
    d = os.path.join(tmp, "ingest")
    os.makedirs(d)
    n = [0]

    def good():
        n[0] += 1
        return ('{"file": "/photos/p%d.jpg", "file_hash": "%032x", "pipeline": "v1", "pipeline_name": "default", '
                '"faces": 0, "model": "", "width": 100, "height": 80}\n' % (n[0], n[0])).encode()
    kinds = [
        ("not-json.jsonl", b'{"file": "/photos/x.jpg", "faces": \n', "not valid JSON"),
        ("invalid-utf8.jsonl", b'{"file": "/photos/\xff\xfe.jpg", "faces": 0}\n', "not valid JSON"),
        ("array.jsonl", b'[1, 2, 3]\n', ""),
        ("faces-wrong-type.jsonl", b'{"file": "/p/y.jpg", "file_hash": "%032x", "pipeline": "v1", "faces": "two"}\n' % 7,
         "faces"),
        ("faces-negative.jsonl", b'{"file": "/p/y.jpg", "file_hash": "%032x", "pipeline": "v1", "faces": -1}\n' % 8,
         "faces"),
        ("box-wrong-type.jsonl", b'{"file": "/p/z.jpg", "file_hash": "%032x", "pipeline": "v1", "face": 0, "faces": 1, '
         b'"box": "wide", "model": "m", "width": 10, "height": 10}\n' % 9, ""),
        ("huge-line.jsonl", b'{"file": "' + b"x" * (2 << 20) + b'\n', "not valid JSON"),
    ]
    files = []
    for name, bad, _ in kinds:
        f = os.path.join(d, name)
        open(f, "wb").write(good() + bad + good())
        files.append(f)
    cat = os.path.join(d, "cat.db")
    r = run(["facecat-catalog", "ingest", "--catalog", cat] + files, home)
    no_crash(r.rc, r.stderr, "ingest of the bad JSONL")
    check_eq(r.rc, 1, "ingest: exit 1 (some lines failed)")
    for name, _, reason in kinds:
        logged = lines_naming(r.stderr, name)
        check(len(logged) == 1 and f"{name}:2:" in logged[0] and reason in logged[0],
              f"ingest {name}: one line naming file:2 and the reason {reason!r} ({[l[:200] for l in logged]})")
    check(len(r.stderr) < 64 * 1024, "ingest: the messages are short (a 2 MB line is not repeated)")
    summary = r.events("ingest")
    check(len(summary) == 1 and summary[0]["detection_count"] == 2 * len(kinds) and summary[0]["bad_line_count"] == len(kinds),
          f"ingest: the run went on: every good record is in, every bad line counted ({summary})")
    r = run(["facecat-catalog", "check", "--catalog", cat], home)
    check_eq(r.rc, 0, "ingest: the catalog checks clean")
    return len(kinds)


def config_kinds(tmp, home, cat):
    d = os.path.join(tmp, "configs")
    os.makedirs(d)
    kinds = [
        # name, text, exit code, reason, line
        ("unknown-key.ini", b"[scan]\nthreads = 1\nno_such_key = 3\n", 0, "unknown key 'no_such_key'", ":3:"),
        ("unknown-section.ini", b"[nosuch]\nkey = 1\n", 0, "unknown key 'key' in [nosuch]", ":2:"),
        ("bad-int.ini", b"[scan]\nthreads = many\n", 2, "is not an integer", ":2:"),
        ("bad-bool.ini", b"[catalog]\nlock_wait = perhaps\n", 2, "is not a boolean", ":2:"),
        ("bad-double.ini", b"[faces]\ncrop_margin = 0,3\n", 2, "is not a number", ":2:"),
        ("bad-section.ini", b"[scan\nthreads = 1\n", 2, "expected ']'", ":1:"),
        ("no-equals.ini", b"[scan]\nthreads\n", 2, "expected 'key = value'", ":2:"),
        ("outside-section.ini", b"threads = 1\n", 2, "outside of any [section]", ":1:"),
        ("empty-section.ini", b"[ ]\n", 2, "empty section name", ":1:"),
        ("line-too-long.ini", b"[scan]\nexclude = " + b"a" * 70000 + b"\n", 2, "line too long", ":2:"),
        ("binary.ini", b"\x00\xff\xfe\x01binary\x00\n", 2, "expected", ":1:"),
        ("readable-secret.ini", b"[vk]\ntoken = abc\n", 2, "chmod 600", ":2:"),
    ]
    for name, text, code, reason, where in kinds:
        f = os.path.join(d, name)
        open(f, "wb").write(text)
        os.chmod(f, 0o644)
        # FACECAT_CONFIG, not --config: the command line repeated after a usage error must not name the file again
        r = run(["facecat-catalog", "stats", "--catalog", cat], home, env={"FACECAT_CONFIG": f})
        no_crash(r.rc, r.stderr, f"config {name}")
        check_eq(r.rc, code, f"config {name}: exit code")
        logged = lines_naming(r.stderr, name)
        check(len(logged) == 1 and reason in logged[0] and where in logged[0],
              f"config {name}: one line naming the file:line and {reason!r} ({logged!r})")
    r = run(["facecat-catalog", "stats", "--catalog", cat], home, env={"FACECAT_CONFIG": d})
    no_crash(r.rc, r.stderr, "config is a folder")
    check(r.rc == 2 and len(lines_naming(r.stderr, d)) == 1, f"config is a folder: one error line ({r.stderr!r})")
    return len(kinds) + 1


if __name__ == "__main__":
    main()
