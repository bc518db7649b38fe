"""End to end: facecat-scenes with a catalog, and facecat-catalog forget.

- Megamind.avi (named on the command line) becomes a files row (origin cli), gets a video_tasks row (done, with
  timestamps), one segments row per scene and one frame files row per scene (kind image, origin scenes,
  segment_id set);
- a re-run with the same params replaces the task (same segments and frames, nothing stale left); other params
  make a second task;
- a failing video gets a failed task with the error, and no segments;
- `facecat-catalog forget VIDEO` removes tasks, segments, frame rows, frame files, and the faces/detections/crops
  of those frames;
- faces: facecat-detect on the catalog finds faces on Megamind's frames, linked back to their segments (skipped
  with a message while facecat-detect is not built).
"""
import json
import os
import sqlite3
import sys

sys.path.insert(0, os.path.dirname(__file__))
from facecat_test import (BIN_DIR, TempDir, check, check_eq, check_locale, finish, need_testdata, path_of,  # noqa: E402
                          run)

check_locale()
VIDEO = os.path.normpath(os.path.abspath(need_testdata("video")))  # the tool prints normalised absolute paths
MEGAMIND = os.path.join(VIDEO, "opencv-samples", "Megamind.avi")
TREE = os.path.join(VIDEO, "opencv-samples", "tree.avi")


def q(cat, sql, *args):
    con = sqlite3.connect(cat)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


with TempDir() as tmp:
    home = os.path.join(tmp, "home")
    cat = os.path.join(tmp, "catalog.db")
    out = os.path.join(tmp, "frames")

    r = run(["facecat-scenes", "--catalog", cat, "--out", out, MEGAMIND], home)
    check_eq(r.rc, 0, "catalog run: exit code")
    scenes = r.events("scene")
    check_eq([s["start_frame"] for s in scenes], [0, 98, 154, 200], "Megamind: scenes")
    video_rows = q(cat, "SELECT id, kind, origin, hash IS NOT NULL, format FROM files WHERE path = ?",
                   MEGAMIND.encode())
    check_eq(len(video_rows), 1, "the video is a files row")
    vid = video_rows[0][0] if video_rows else None
    if video_rows:
        check_eq(video_rows[0][1:], ("video", "cli", 1, "avi"), "video row: kind, origin, hash, format")
    tasks = q(cat, "SELECT id, status, error, created_at IS NOT NULL, started_at IS NOT NULL, "
                   "finished_at >= started_at, params FROM video_tasks WHERE file_id = ?", vid)
    check_eq(len(tasks), 1, "one task")
    task = tasks[0][0] if tasks else None
    if tasks:
        check_eq(tasks[0][1:6], ("done", None, 1, 1, 1), "task: done, with timestamps")
        params = json.loads(tasks[0][6])
        check_eq(params.get("content", {}).get("threshold"), 27.0, "task params: threshold")
    segs = q(cat, "SELECT id, scene_index, start_frame, end_frame, start_time, end_time FROM segments "
                  "WHERE task_id = ? ORDER BY scene_index", task)
    check_eq([(s[1], s[2], s[3]) for s in segs], [(0, 0, 98), (1, 98, 154), (2, 154, 200), (3, 200, 270)],
             "segments rows")
    # The AVI's first frame is shown at 0.042 s (ffprobe agrees): times are the frames' own timestamps.
    offsets = [s[4] - s[2] / 23.976 for s in segs]
    check(segs and max(offsets) - min(offsets) < 0.005 and 0 <= min(offsets) < 0.05,
          f"segment start times follow the frames' timestamps ({[s[4] for s in segs]})")
    check(all(a[5] == b[4] for a, b in zip(segs, segs[1:])), "segments are contiguous in time")
    frames = q(cat, "SELECT f.path, f.kind, f.origin, f.format, f.segment_id, f.hash, f.width, f.height "
                    "FROM files f JOIN segments s ON f.segment_id = s.id WHERE s.task_id = ? ORDER BY s.scene_index",
               task)
    check_eq(len(frames), 4, "one frame row per scene")
    check(all(f[1:4] == ("image", "scenes", "jpeg") for f in frames), "frame rows: image, scenes, jpeg")
    check_eq([f[4] for f in frames], [s[0] for s in segs], "frame rows link to their segments")
    check(all(os.path.exists(f[0]) for f in frames), "frame files exist")
    check(all((f[6], f[7]) == (720, 528) for f in frames), "frame rows: size")
    check_eq([s.get("segment_id") for s in scenes], [s[0] for s in segs], "JSONL carries segment ids")
    check_eq([path_of(s, "frame_file") for s in scenes], [f[0] for f in frames], "JSONL frame files = rows")
    old_paths = [f[0] for f in frames]
    old_hashes = [f[5] for f in frames]

    # Same params again: the task is replaced, nothing doubles, the frames are bit-identical.
    r = run(["facecat-scenes", "--catalog", cat, "--out", out, MEGAMIND], home)
    check_eq(r.rc, 0, "re-run: exit code")
    check_eq(q(cat, "SELECT count(*), min(status) FROM video_tasks"), [(1, "done")], "re-run: still one task")
    check_eq(q(cat, "SELECT count(*) FROM segments"), [(4,)], "re-run: still 4 segments")
    frames2 = q(cat, "SELECT path, hash FROM files WHERE origin = 'scenes' ORDER BY path")
    check_eq(sorted(zip(old_paths, old_hashes)), frames2, "re-run: same frame files, same content")
    check_eq(q(cat, "SELECT count(*) FROM files"), [(5,)], "re-run: 1 video + 4 frames rows")

    # Other params: a second task beside the first, in its own folder.
    r = run(["facecat-scenes", "--catalog", cat, "--out", out, "-n", "2", MEGAMIND], home)
    check_eq(r.rc, 0, "other params: exit code")
    check_eq(q(cat, "SELECT count(*) FROM video_tasks WHERE status = 'done'"), [(2,)], "other params: two tasks")
    check_eq(q(cat, "SELECT count(*) FROM files WHERE origin = 'scenes'"), [(12,)], "other params: 4 + 8 frames")
    check_eq(len([x for x in os.listdir(out) if x != ".facecat-folder"]), 2, "other params: a second folder")

    # A failing video: a failed task with the reason, no segments.
    r = run(["facecat-scenes", "--catalog", cat, "--out", out, TREE], home)
    check_eq(r.rc, 1, "failing video: exit code 1")
    failed = q(cat, "SELECT t.status, t.error FROM video_tasks t JOIN files f ON t.file_id = f.id WHERE f.path = ?",
               TREE.encode())
    check(len(failed) == 1 and failed[0][0] == "failed" and "68 of the 444" in (failed[0][1] or ""),
          f"failing video: task failed with the reason ({failed})")
    check_eq(q(cat, "SELECT count(*) FROM segments s JOIN video_tasks t ON s.task_id = t.id "
                    "WHERE t.status = 'failed'"), [(0,)], "failing video: no segments")

    # Faces: facecat-detect on the frames (another engineer's tool).
    if os.path.exists(os.path.join(BIN_DIR, "facecat-detect")):
        r = run(["facecat-detect", "--catalog", cat], home, timeout=900)
        check_eq(r.rc, 0, "facecat-detect on the catalog: exit code")
        # The first task was replaced by the same-params re-run: look at the video's current tasks.
        linked = q(cat, "SELECT s.scene_index, count(fc.id) FROM faces fc JOIN files f ON fc.file_hash = f.hash "
                        "JOIN segments s ON f.segment_id = s.id JOIN video_tasks t ON s.task_id = t.id "
                        "WHERE t.file_id = ? GROUP BY s.scene_index", vid)
        check(len(linked) >= 3, f"faces found on Megamind's frames, linked to their segments ({linked})")
    else:
        print("SKIPPED (part): facecat-detect is not built yet; the faces-on-frames check of this test waits for it")

    # Forget: a face with a crop on one of the frames goes too.
    crop = os.path.join(tmp, "crops", "crop0.jpg")
    os.makedirs(os.path.dirname(crop))
    open(crop, "wb").write(b"\xff\xd8\xff\xd9")
    con = sqlite3.connect(cat)
    with con:
        con.execute("INSERT OR IGNORE INTO detections(file_hash, pipeline_version, model_id, n_faces, processed_at) "
                    "VALUES(?, 'test', 'm', 1, 0)", (old_hashes[1],))
        con.execute("INSERT INTO faces(file_hash, pipeline_version, face_index, model_id, x, y, w, h, crop_path, "
                    "created_at) VALUES(?, 'test', 99, 'm', 1, 2, 3, 4, ?, 0)", (old_hashes[1], crop.encode()))
    con.close()
    r = run(["facecat-catalog", "--catalog", cat, "forget", MEGAMIND], home)
    check_eq(r.rc, 0, "forget: exit code")
    ev = r.events("video_forgotten")
    check(len(ev) == 1 and ev[0]["task_count"] == 2 and ev[0]["segment_count"] == 8 and ev[0]["frame_count"] == 12,
          f"forget: counts ({ev})")
    check_eq(q(cat, "SELECT count(*) FROM video_tasks t JOIN files f ON t.file_id = f.id WHERE f.path = ?",
               MEGAMIND.encode()), [(0,)], "forget: no tasks")
    check_eq(q(cat, "SELECT count(*) FROM segments"), [(0,)], "forget: no segments")
    check_eq(q(cat, "SELECT count(*) FROM files WHERE origin = 'scenes'"), [(0,)], "forget: no frame rows")
    check_eq(q(cat, "SELECT count(*) FROM faces WHERE file_hash = ?", old_hashes[1]), [(0,)], "forget: faces gone")
    check_eq(q(cat, "SELECT count(*) FROM detections WHERE file_hash = ?", old_hashes[1]), [(0,)],
             "forget: detections gone")
    check(not os.path.exists(crop), "forget: crop file deleted")
    check(not any(os.path.exists(p) for p in old_paths), "forget: frame files deleted")
    check_eq(os.listdir(out), [".facecat-folder"], "forget: the empty frame folders are gone (the marker stays)")
    check_eq(q(cat, "SELECT count(*) FROM files WHERE path = ?", MEGAMIND.encode()), [(1,)],
             "forget: the video's own row stays")
    r = run(["facecat-catalog", "--catalog", cat, "forget", os.path.join(tmp, "never-seen.mp4")], home)
    check_eq(r.rc, 1, "forget of an unknown video: exit 1")
    check("not in the catalog" in r.stderr.decode(errors="replace"), "forget of an unknown video: says why")
    r = run(["facecat-catalog", "--catalog", cat, "check"], home)
    check_eq(r.rc, 0, "catalog check is clean afterwards")

finish()
