"""facecat-detect end to end: catalog mode (scan -> detect) stores detections, faces and crops, and a re-run has
nothing to do; stdin mode (paths and scan's JSONL) and PATH mode give the same faces, byte for byte; ingest of
stdin-mode output into a fresh catalog equals catalog mode's rows, twice ingested is not duplicated, and confirmed
assignments survive a re-ingest; pipeline set makes files pending again; the face record schema."""
import base64
import json
import os
import struct

from detect_fixture import (check_record_schema, detection_rows, env_for, face_rows, faces_by_key, is_jpeg,
                            make_tree, results, rows, temp_files)
from facecat_test import TempDir, check, check_eq, check_locale, finish, path_of, run

check_locale()

with TempDir() as tmp:
    home = os.path.join(tmp, "home")
    photos = os.path.join(tmp, "photos")
    files = make_tree(photos)
    # A name that is not UTF-8 (Latin-1 "café"), with content of its own: path_b64 carries it.
    odd = os.path.join(os.fsencode(photos), b"caf\xe9.jpg")
    with open(files[0], "rb") as src, open(odd, "wb") as dst:
        dst.write(src.read() + b"\x01")
    files.append(os.fsdecode(odd))
    stdin_paths = b"\n".join(os.fsencode(f) for f in files) + b"\n"
    cat = os.path.join(tmp, "cat.db")
    env = env_for(tmp)

    r = run(["facecat-scan", "--catalog", cat, photos], home, env=env)
    check_eq(r.rc, 0, "scan")
    scan_jsonl = r.stdout

    # ---- catalog mode -----------------------------------------------------------------------------------------
    r = run(["facecat-detect", "--catalog", cat], home, env=env)
    check_eq(r.rc, 0, f"catalog mode exit code ({r.stderr[-400:]!r})")
    all_recs = r.jsonl()
    for rec in all_recs:
        check_record_schema(rec, "catalog mode")
    check_eq([x["event"] for x in all_recs if x["event"] == "pipeline"], ["pipeline"],
             "one pipeline record, not params in every record")
    check_eq(all_recs[0]["event"], "pipeline", "the pipeline record comes first")
    cat_recs = results(all_recs)
    hashes = {rec["hash"] for rec in cat_recs}
    check_eq(len(hashes), len(files), "catalog mode: one result per file")
    n_faces = sum(1 for rec in cat_recs if rec["event"] == "face")
    check(n_faces >= len(files), f"catalog mode found faces ({n_faces})")
    two = [rec for rec in cat_recs if rec["path"].endswith("two_people.jpg")]
    check(len(two) == 2 and two[0]["face_count"] == 2, f"two_people.jpg has 2 faces ({len(two)})")
    odd_recs = [rec for rec in cat_recs if "path_b64" in rec]
    check(len(odd_recs) == 1 and path_of(odd_recs[0]) == odd,
          "a non-UTF-8 file name comes back losslessly in path_b64")
    check_eq(rows(cat, "SELECT count(*) FROM detections")[0][0], len(files), "a detections row per file")
    check_eq(rows(cat, "SELECT count(*) FROM faces")[0][0], n_faces, "a faces row per face record")
    check_eq(rows(cat, "SELECT count(*) FROM faces WHERE length(descriptor) = 512 AND landmarks IS NOT NULL")[0][0],
             n_faces, "faces rows carry descriptors and landmarks")
    crops = [rec["crop"] for rec in cat_recs if rec["event"] == "face"]
    check(all(c and os.path.isfile(c) and is_jpeg(c) for c in crops), "every face has a valid JPEG crop")
    check(all(os.path.dirname(os.path.dirname(c)) == os.path.join(tmp, "crops") for c in crops),
          "crops are in faces.CroppedFacesPath")
    check(all(os.path.basename(c) == f"{rec['hash']}_{rec['pipeline']}_{rec['face_index']}.jpg"
              for c, rec in zip(crops, [x for x in cat_recs if x["event"] == "face"])), "crops are named by face id")
    check_eq(temp_files(os.path.join(tmp, "crops")), [], "no temp crops left")
    r = run(["facecat-catalog", "--catalog", cat, "check"], home)
    check_eq(r.rc, 0, "catalog check is clean after detect")
    pipeline = rows(cat, "SELECT name, version FROM pipelines")
    check(len(pipeline) == 1 and pipeline[0][0] == "default" and pipeline[0][1] == cat_recs[0]["pipeline"],
          f"the default pipeline was created with the records' version ({pipeline})")
    check_eq(rows(cat, "SELECT count(*) FROM models")[0][0], 1, "the model is recorded")

    r = run(["facecat-detect", "--catalog", cat], home, env=env)
    check(r.rc == 0 and r.stdout == b"", f"a re-run processes nothing (exit {r.rc}, {r.stdout[:100]!r})")
    r = run(["facecat-catalog", "--catalog", cat, "pending", "detect"], home, env=env)
    check(r.rc == 0 and r.stdout == b"", "pending detect: nothing pending")

    # ---- stdin mode: paths, scan JSONL; PATH mode; determinism -------------------------------------------------
    ref = faces_by_key(cat_recs)
    r1 = run(["facecat-detect", "--stdin", "--landmarks"], home, stdin=stdin_paths, env=env)
    check_eq(r1.rc, 0, "stdin (paths): exit code")
    for rec in r1.jsonl():
        check_record_schema(rec, "stdin mode")
    check_eq(faces_by_key(r1.jsonl()), ref, "stdin (paths) gives catalog mode's faces and descriptors")
    check(all("landmarks" in rec for rec in r1.jsonl() if rec["event"] == "face"), "--landmarks adds landmarks")
    r2 = run(["facecat-detect", "--stdin", "--landmarks"], home, stdin=stdin_paths, env=env)
    check(r2.stdout == r1.stdout, "stdin mode is deterministic (identical output for identical input)")
    r = run(["facecat-detect", "--stdin"], home, stdin=scan_jsonl, env=env)
    check_eq(r.rc, 0, "stdin (scan JSONL): exit code")
    check_eq(faces_by_key(r.jsonl()), ref, "stdin (scan JSONL) gives catalog mode's faces")
    r = run(["facecat-detect"] + files, home, env=env)
    check_eq(faces_by_key(r.jsonl()), ref, "PATH mode gives catalog mode's faces")

    # --chips: the aligned chips, as PNGs of chip_size, one per face, named by face id; same faces otherwise
    chips_dir = os.path.join(tmp, "chips")
    r = run(["facecat-detect", "--no-crops", "--chips", chips_dir] + files[:3], home, env=env)
    check_eq(r.rc, 0, "--chips: exit code")
    chip_recs = [rec for rec in r.jsonl() if rec["event"] == "face"]
    check(chip_recs and all(rec.get("chip") for rec in chip_recs), "--chips: every face record names its chip")
    for rec in chip_recs:
        with open(rec["chip"], "rb") as fh:
            head = fh.read(24)
        check(head[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", head[16:24]) == (150, 150),
              f"--chips: {os.path.basename(rec['chip'])} is a 150x150 PNG")
        check_eq(os.path.basename(rec["chip"]), f"{rec['hash']}_{rec['pipeline']}_{rec['face_index']}.chip.png",
                 "--chips: named by face id")
    check_eq(temp_files(chips_dir), [], "--chips: no temp chips left")
    chip_hashes = {rec["hash"] for rec in results(r.jsonl())}
    check_eq(faces_by_key(r.jsonl()), {k: v for k, v in ref.items() if k[0] in chip_hashes},
             "--chips: the same faces and descriptors")

    cat5 = os.path.join(tmp, "cat5.db")
    r = run(["facecat-detect", "--catalog", cat5, "--ingest", files[2]], home, env=env)
    check(r.rc == 0 and rows(cat5, "SELECT count(*) FROM faces")[0][0] == len(results(r.jsonl())),
          "PATH mode with --ingest stores its results")

    # ---- ingest --------------------------------------------------------------------------------------------------
    out_file = os.path.join(tmp, "faces.jsonl")
    with open(out_file, "wb") as f:
        f.write(r1.stdout)
    cat2 = os.path.join(tmp, "cat2.db")
    r = run(["facecat-scan", "--catalog", cat2, photos], home, env=env)
    r = run(["facecat-catalog", "--catalog", cat2, "ingest", out_file], home)
    check_eq(r.rc, 0, f"ingest: exit code ({r.stderr[-300:]!r})")
    summary = r.events("ingest")
    check(summary and summary[0]["detection_count"] == len(files) and summary[0]["face_count"] == n_faces,
          f"ingest summary ({summary})")
    check_eq(face_rows(cat2), face_rows(cat), "ingested faces rows equal catalog mode's")
    check_eq(detection_rows(cat2), detection_rows(cat), "ingested detections rows equal catalog mode's")
    check_eq(rows(cat2, "SELECT name, version, params FROM pipelines"),
             rows(cat, "SELECT name, version, params FROM pipelines"), "ingest records the pipeline")
    check_eq(rows(cat2, "SELECT id FROM models"), rows(cat, "SELECT id FROM models"), "ingest records the model")
    # a confirmed assignment survives a re-ingest (same boxes)
    fid, fh = rows(cat2, "SELECT id, file_hash FROM faces ORDER BY id LIMIT 1")[0]
    import sqlite3
    db = sqlite3.connect(cat2)
    db.execute("INSERT INTO people (id, name, status, created_at, updated_at) VALUES (7, 'Barack', 'named', 0, 0)")
    db.execute("UPDATE faces SET person_id = 7, assignment = 'confirmed' WHERE id = ?", (fid,))
    db.commit()
    db.close()
    r = run(["facecat-catalog", "--catalog", cat2, "ingest", "-"], home, stdin=r1.stdout)
    check_eq(r.rc, 0, "ingest twice: exit code")
    check(r.events("ingest")[0]["replaced_count"] == len(files), "ingest twice replaces every detection")
    check_eq(rows(cat2, "SELECT count(*) FROM faces")[0][0], n_faces, "ingest twice: no duplicate faces")
    check_eq(rows(cat2, "SELECT count(*) FROM detections")[0][0], len(files), "ingest twice: no duplicate detections")
    check_eq(rows(cat2, "SELECT id, person_id, assignment FROM faces WHERE person_id IS NOT NULL"),
             [(fid, 7, "confirmed")], "a confirmed assignment (and the face id) survives a re-ingest")
    r = run(["facecat-catalog", "--catalog", cat2, "check"], home)
    check_eq(r.rc, 0, "catalog check is clean after ingest")
    # into a catalog that never scanned these files: stored, keyed by content
    cat3 = os.path.join(tmp, "cat3.db")
    r = run(["facecat-catalog", "--catalog", cat3, "ingest", out_file], home)
    check(r.rc == 0 and r.events("ingest")[0]["unknown_file_count"] == len(files),
          "ingest stores faces of files the catalog does not know (unknown_files counted)")
    # bad lines name file:line and the rest goes in
    bad = os.path.join(tmp, "bad.jsonl")
    lines = r1.stdout.decode().splitlines()
    with open(bad, "w") as f:
        f.write("not json\n" + "\n".join(lines) + "\n" + '{"event": "face", "hash": "zz"}\n')
    cat4 = os.path.join(tmp, "cat4.db")
    r = run(["facecat-catalog", "--catalog", cat4, "ingest", bad], home)
    err = r.stderr.decode()
    check(r.rc == 1 and f"{bad}:1:" in err and f"{bad}:{len(lines) + 2}:" in err,
          f"ingest reports bad lines as file:line and exits 1 ({err[-300:]!r})")
    check_eq(rows(cat4, "SELECT count(*) FROM faces")[0][0], n_faces, "ingest stores the good lines")

    # ---- pipelines as data ---------------------------------------------------------------------------------------
    r = run(["facecat-catalog", "--catalog", cat, "pipeline", "show", "default"], home, env=env)
    shown = r.jsonl()[0]
    check(shown["event"] == "pipeline" and shown["stored"] and shown["pending_count"] == 0 and
          shown["params"]["min_face"] == 90,
          f"pipeline show ({shown})")
    r = run(["facecat-catalog", "--catalog", cat, "pipeline", "set", "default", "min_face=nope"], home, env=env)
    check_eq(r.rc, 2, "pipeline set rejects a bad value")
    r = run(["facecat-catalog", "--catalog", cat, "pipeline", "set", "default", "colour=red"], home, env=env)
    check_eq(r.rc, 2, "pipeline set rejects an unknown key")
    r = run(["facecat-catalog", "--catalog", cat, "pipeline", "set", "default", "min_face=100"], home, env=env)
    ev = r.jsonl()[0] if r.rc == 0 else {}
    check(ev.get("changed") and ev["old_version"] == shown["pipeline"] and ev["pending_count"] == len(files),
          f"pipeline set bumps the version and every file is pending again ({ev})")
    r = run(["facecat-catalog", "--catalog", cat, "pending", "detect"], home, env=env)
    pend = r.jsonl()
    check(len(pend) == len(files) and all(p["pipeline"] == ev.get("pipeline") and p["event"] == "pending" for p in pend),
          "pending detect lists them")
    r = run(["facecat-catalog", "--catalog", cat, "pipeline", "list"], home, env=env)
    check_eq([p["pipeline_name"] for p in r.jsonl()], ["default"], "pipeline list")
    r = run(["facecat-detect", "--catalog", cat, "--no-crops"], home, env=env)
    check(r.rc == 0 and {x["hash"] for x in results(r.jsonl())} == hashes and
          all(x["pipeline"] == ev.get("pipeline") for x in r.jsonl()), "detect processes them with the new version")
    check_eq(rows(cat, "SELECT count(DISTINCT pipeline_version) FROM detections")[0][0], 2,
             "the old version's results stay")
    # the distributed mode: pending -> workers with --params -> ingest
    r = run(["facecat-catalog", "--catalog", cat, "pipeline", "set", "default", "min_face=120"], home, env=env)
    params = os.path.join(tmp, "params.json")
    r = run(["facecat-catalog", "--catalog", cat, "pipeline", "show"], home, env=env)
    with open(params, "wb") as f:
        f.write(r.stdout)
    work = run(["facecat-catalog", "--catalog", cat, "pending", "detect"], home, env=env).stdout
    r = run(["facecat-detect", "--stdin", "--params", params, "--no-crops"], home, stdin=work,
            env={k: v for k, v in env.items() if k != "FACECAT_MIN_FACE"})
    check(r.rc == 0 and all(x["pipeline"] == json.loads(r.stdout.splitlines()[0])["pipeline"] for x in r.jsonl()),
          "a worker with --params uses the catalog's pipeline")
    ing = run(["facecat-catalog", "--catalog", cat, "ingest"], home, stdin=r.stdout)
    check(ing.rc == 0, "ingest the workers' output")
    r = run(["facecat-catalog", "--catalog", cat, "pending", "detect"], home, env=env)
    check(r.rc == 0 and r.stdout == b"", "nothing pending after the distributed run")

    # faces.jitter (issue 15), a pipeline key: 1 keeps the version a catalog had before the key existed, another
    # value is another version; the boxes stay, and each descriptor is the mean over jittered chips: near the plain
    # one, never equal to it.
    r = run(["facecat-catalog", "--catalog", cat, "pipeline", "set", "default", "jitter=0"], home, env=env)
    check_eq(r.rc, 2, "pipeline set rejects jitter=0")
    plain = run(["facecat-detect", "--no-crops", files[0]], home, env=env)
    jit = run(["facecat-detect", "--no-crops", "--set", "faces.jitter=3", files[0]], home, env=env)
    pp, pj = plain.jsonl(), jit.jsonl()
    check(plain.rc == 0 and jit.rc == 0 and pp[0]["params"]["jitter"] == 1 and pj[0]["params"]["jitter"] == 3 and
          pp[0]["pipeline"] != pj[0]["pipeline"], f"--set faces.jitter=3 is another pipeline version ({pj[:1]})")
    fp = [x for x in pp if x.get("event") == "face"]
    fj = [x for x in pj if x.get("event") == "face"]
    check(fp and [x["box"] for x in fp] == [x["box"] for x in fj], "jitter: the same faces and boxes")

    def desc(x):
        return struct.unpack("<128f", base64.b64decode(x["descriptor"]))
    dists = [sum((a - b) ** 2 for a, b in zip(desc(x), desc(y))) ** 0.5 for x, y in zip(fp, fj)]
    check(dists and all(0.01 < d < 0.3 for d in dists), f"jitter: descriptors near the plain ones, not equal ({dists})")
    again = run(["facecat-detect", "--no-crops", "--set", "faces.jitter=3", files[0]], home, env=env)
    check_eq(again.stdout, jit.stdout, "jitter: the same output every run (a fixed seed)")
finish()
