"""End to end: facecat-scenes on the shared test clips.

- ground truth: every hard cut of ../shared/testdata/video/ground_truth.json at the exact frame (±1 allowed, none
  found here off by one), and no other cut, on the clips listed in the video README; the VFR clip by timestamp;
- fades: the threshold detector matches PySceneDetect's golden on fades.mp4;
- rotation: the rotated clip's frames come out as ffmpeg (and players) show them;
- CSV / EDL / stdout JSONL formats;
- bad input: audio-only, truncated, not a video, tree.avi's lying header, an unsupported codec → one clear error
  each, nothing written, exit 1, and the good videos in the same run still processed.
The catalog side (tasks, segments, frames, forget, faces) is in test_scenes_catalog.py.
"""
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from facecat_test import (TempDir, check, check_eq, check_locale, finish, need_program, need_testdata, path_of,  # noqa: E402
                          run)

check_locale()
VIDEO = os.path.normpath(os.path.abspath(need_testdata("video")))  # the tool prints normalised absolute paths
need_program("ffmpeg")
GT = json.load(open(os.path.join(VIDEO, "ground_truth.json")))["videos"]


def v(name):
    return os.path.join(VIDEO, name)


def jpeg_size(path):
    """(width, height) from a JPEG's SOF marker."""
    with open(path, "rb") as f:
        data = f.read()
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            i += 1
            continue
        marker = data[i + 1]
        length = int.from_bytes(data[i + 2:i + 4], "big")
        if marker in (0xC0, 0xC1, 0xC2):
            h = int.from_bytes(data[i + 5:i + 7], "big")
            w = int.from_bytes(data[i + 7:i + 9], "big")
            return w, h
        i += 2 + length
    return None


def gray_thumb(args, w, h):
    """Raw 8-bit grey pixels of a frame, scaled to w×h by ffmpeg."""
    out = subprocess.run(["ffmpeg", "-v", "error", "-nostdin"] + args +
                         ["-vf", f"scale={w}:{h}", "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "gray", "-"],
                         capture_output=True, check=True).stdout
    return out


def mean_abs(a, b):
    return sum(abs(x - y) for x, y in zip(a, b)) / max(1, len(a))


with TempDir() as tmp:
    home = os.path.join(tmp, "home")
    out = os.path.join(tmp, "frames")

    # ---- ground truth, one run over all clips (detection only) ----------------------------------------------------
    clips = ["testvideo.mp4", "opencv-samples/Megamind.avi", "issue-195-aspect-ratio.mp4", "issue-236-split-copy.mkv",
             "issue-134-rotate.mp4", "goldeneye-vfr-drop3.mp4", "counter.mp4", "fades.mp4", "delayed_start.mp4",
             "opencv-samples/vtest.avi"]
    r = run(["facecat-scenes", "--no-frames", "--out", out] + [v(c) for c in clips], home)
    check_eq(r.rc, 0, "ground truth run: exit code")
    videos = {os.path.relpath(path_of(e).decode(), VIDEO): e for e in r.events("video")}
    scenes = {}
    for e in r.events("scene"):
        scenes.setdefault(os.path.relpath(path_of(e).decode(), VIDEO), []).append(e)
    total_gt = total_found = 0
    for c in clips:
        key = os.path.basename(c)
        want = GT[key]["hard_cuts"]
        got = videos.get(c, {}).get("cuts")
        if not check(got is not None, f"{c}: a video record"):
            continue
        total_gt += len(want)
        hits = [w for w in want if any(abs(g - w) <= 1 for g in got)]
        total_found += len(hits)
        if key == "goldeneye-vfr-drop3.mp4":
            # VFR: the cuts are right by timestamp (and by decoded-frame ordinal).
            times = videos[c]["cut_times"]
            want_t = GT[key]["hard_cut_pts_s"]
            check(len(times) == len(want_t) and all(abs(a - b) < 0.002 for a, b in zip(times, want_t)),
                  f"{c}: cut times {times} match {want_t} (PTS)")
            starts = [s["start_time"] for s in scenes[c][1:]]
            check(all(abs(a - b) < 0.002 for a, b in zip(starts, want_t)), f"{c}: scene start times {starts}")
        check_eq(len(hits), len(want), f"{c}: hard cuts found (want {want}, got {got})")
        check_eq(len(got), len(want), f"{c}: no false positives (got {got})")
        # Scenes tile the video: [0, c1), [c1, c2), ..., [ck, n).
        sc = scenes.get(c, [])
        bounds = [s["start_frame"] for s in sc] + [sc[-1]["end_frame"] if sc else -1]
        check_eq(bounds, [0] + got + [videos[c]["frame_count"]], f"{c}: scene boundaries")
        check(all(s["start_time"] < s["end_time"] for s in sc), f"{c}: every scene has a positive duration")
    print(f"accuracy: {total_found}/{total_gt} hard cuts exact")
    check_eq(videos["opencv-samples/Megamind.avi"]["frame_count"], 270, "Megamind: all frames decoded")

    # ---- fades: the threshold detector (PySceneDetect golden 84, 167) -----------------------------------------------
    r = run(["facecat-scenes", "--no-frames", "-d", "threshold", "--out", out, v("fades.mp4"), v("testvideo.mp4")],
            home)
    check_eq(r.rc, 0, "threshold detector: exit code")
    cuts = {os.path.basename(path_of(e).decode()): e["cuts"] for e in r.events("video")}
    check_eq(cuts.get("fades.mp4"), [84, 167], "fades.mp4: threshold cuts")
    golden = GT["testvideo.mp4"]["psd_golden"]["ThresholdDetector.default(t=12)"]
    tv = cuts.get("testvideo.mp4") or []
    check(len(tv) == len(golden) and all(abs(a - b) <= 1 for a, b in zip(tv, golden)),
          f"testvideo.mp4: threshold cuts {tv} within a frame of {golden}")

    # ---- frames: rotation, one JPEG per scene, black middles avoided ------------------------------------------------
    r = run(["facecat-scenes", "--out", out, "--csv", "--edl", v("issue-134-rotate.mp4"), v("testvideo.mp4")], home)
    check_eq(r.rc, 0, "frames run: exit code")
    by_video = {}
    for e in r.events("scene"):
        by_video.setdefault(os.path.basename(path_of(e).decode()), []).append(e)
    rot = by_video.get("issue-134-rotate.mp4", [])
    check_eq(len(rot), 3, "rotated clip: 3 scenes")
    for s in rot:
        f = path_of(s, "frame_file").decode()
        check_eq(jpeg_size(f), (544, 1280), f"rotated clip scene {s['scene_index']}: frame is portrait 544x1280")
    if rot:
        s = rot[1]
        n = s["frames"][0]["frame"]
        ours = gray_thumb(["-i", path_of(s, "frame_file").decode()], 34, 80)
        # ffmpeg autorotates by default: what a player shows.
        ref = subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-i", v("issue-134-rotate.mp4"), "-vf",
                              f"select=eq(n\\,{n}),scale=34:80", "-frames:v", "1", "-f", "rawvideo", "-pix_fmt",
                              "gray", "-"], capture_output=True, check=True).stdout
        upside_down = ref[::-1]
        d_same, d_flip = mean_abs(ours, ref), mean_abs(ours, upside_down)
        check(d_same < 8 and d_flip > 2 * d_same, f"rotated clip: frame {n} upright like ffmpeg's "
              f"(diff {d_same:.1f}, rotated 180° {d_flip:.1f})")
    tv = by_video.get("testvideo.mp4", [])
    check_eq(len(tv), 4, "testvideo: 4 scenes")
    if tv:
        first = tv[0]["frames"][0]
        # Scene [0, 30) is black throughout (fade from black): no better frame, marked as such.
        check_eq(first["reason"], "black", "testvideo scene 0: black scene marked black")
        check(all(os.path.exists(path_of(s, "frame_file")) for s in tv), "testvideo: frame files exist")
        check(all(s["frames"][0]["reason"] == "middle" for s in tv[1:]), "testvideo: sharp middles are kept")
        mids = [s["frames"][0]["frame"] for s in tv[1:]]
        check_eq(mids, [105, 287, 557], "testvideo: middle frames by timestamp")
        folder = os.path.dirname(path_of(tv[0], "frame_file").decode())
        csv = open(os.path.join(folder, "testvideo-Scenes.csv")).read().splitlines()
        check_eq(csv[0], "Timecode List:,00:00:01.001,00:00:06.006,00:00:13.146", "CSV: timecode list")
        check(csv[1].startswith("Scene Number,Start Frame,Start Timecode,Start Time (seconds),End Frame"),
              "CSV: list-scenes header")
        check_eq(csv[2], "1,1,00:00:00.000,0.000,30,00:00:01.001,1.001,30,00:00:01.001,1.001", "CSV: first row")
        check_eq(len(csv), 6, "CSV: one row per scene")
        edl = open(os.path.join(folder, "testvideo.edl")).read()
        check(edl.startswith("TITLE: testvideo\nFCM: NON-DROP FRAME\n"), "EDL: header")
        check("002  AX V     C        00:00:01:00 00:00:06:00" in edl, f"EDL: scene 2 event ({edl[:300]!r})")
        jpgs = sorted(x for x in os.listdir(folder) if x.endswith(".jpg"))
        check_eq(jpgs, [f"testvideo-Scene-00{i}-01.jpg" for i in range(1, 5)], "frame file names")
        check(not [x for x in os.listdir(folder) if ".tmp." in x], "no temp files left")

    # ---- --frames-per-scene ----------------------------------------------------------------------------------------
    r = run(["facecat-scenes", "--out", out, "-n", "3", v("opencv-samples/Megamind.avi")], home)
    check_eq(r.rc, 0, "3 frames per scene: exit code")
    sc = r.events("scene")
    check(len(sc) == 4 and all(len(s["frames"]) == 3 for s in sc), "3 frames per scene: 3 each")
    check(all(s["start_frame"] <= f["frame"] < s["end_frame"] for s in sc for f in s["frames"]),
          "3 frames per scene: each inside its scene")

    # ---- bad input ---------------------------------------------------------------------------------------------------
    bad = os.path.join(tmp, "bad")
    os.makedirs(bad)
    audio = os.path.join(bad, "audio-only.m4a")
    subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-f", "lavfi", "-i", "sine=frequency=440:duration=1",
                    "-c:a", "aac", audio], check=True)
    truncated = os.path.join(bad, "truncated.mp4")
    data = open(v("testvideo.mp4"), "rb").read()
    open(truncated, "wb").write(data[:len(data) // 3])
    text = os.path.join(bad, "notes.mp4")
    open(text, "w").write("not a video, only text\n" * 20)
    empty = os.path.join(bad, "empty.mkv")
    open(empty, "wb").close()
    # An AVI whose video codec tag no decoder knows: a valid file with the fourcc patched.
    odd = os.path.join(bad, "unknown-codec.avi")
    subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=5:duration=1",
                    "-c:v", "mjpeg", odd], check=True)
    b = bytearray(open(odd, "rb").read())
    for tag in (b"MJPG", b"mjpg"):
        i = b.find(tag)
        while i >= 0:
            b[i:i + 4] = b"QQZZ"
            i = b.find(tag, i + 4)
    open(odd, "wb").write(bytes(b))
    zero = os.path.join(bad, "no-frames.mp4")  # a valid container whose video stream has no frames
    subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=5:duration=1",
                    "-c:v", "libx264", "-frames:v", "0", zero], capture_output=True)
    bads = {audio: "only audio", truncated: "", text: "", empty: "", odd: "not supported",
            v("opencv-samples/tree.avi"): "68 of the 444"}
    if os.path.exists(zero):
        bads[zero] = ""
    bad_out = os.path.join(tmp, "bad-out")
    r = run(["facecat-scenes", "--out", bad_out, v("counter.mp4")] + list(bads) + [v("delayed_start.mp4")], home)
    check_eq(r.rc, 1, "bad input: exit code 1 at the end")
    errs = {path_of(e).decode(): e["reason"] for e in r.events("error")}
    for p, want in bads.items():
        reason = errs.get(p)
        check(reason is not None and want in reason, f"bad input {os.path.basename(p)}: one clear error ({reason!r})")
    err_text = r.stderr.decode(errors="replace")
    for p in bads:
        check_eq(err_text.count(os.path.basename(p) + ":"), 1, f"{os.path.basename(p)}: one line on stderr")
    good = [os.path.basename(path_of(e).decode()) for e in r.events("video")]
    check_eq(good, ["counter.mp4", "delayed_start.mp4"], "bad input: the good videos are still processed")
    scene_videos = {os.path.basename(path_of(e).decode()) for e in r.events("scene")}
    check_eq(scene_videos, {"counter.mp4", "delayed_start.mp4"}, "bad input: no scene records for bad videos")
    written = sorted(x for x in os.listdir(bad_out) if x != ".facecat-folder") if os.path.isdir(bad_out) else []
    check(len(written) == 2 and all(w.startswith(("counter-", "delayed_start-")) for w in written),
          f"bad input: nothing written for bad videos ({written})")
    # delayed_start: the container starts at 1.075 s (its start_time). Times count from the container's start,
    # as ffmpeg's -ss does, so `ffmpeg -ss <start_time> -i video` finds the frame.
    ds = [e for e in r.events("scene") if path_of(e).decode().endswith("delayed_start.mp4")]
    check(ds and ds[0]["start_time"] == 0 and abs(ds[-1]["end_time"] - 0.96) < 0.002,
          f"delayed start: times from the container start ({ds[:1]})")

    # ---- usage errors ------------------------------------------------------------------------------------------------
    r = run(["facecat-scenes", "-d", "bogus", v("counter.mp4")], home)
    check_eq(r.rc, 2, "unknown detector: usage error")
    r = run(["facecat-scenes"], home)
    check_eq(r.rc, 2, "no video: usage error")

finish()
