#!/usr/bin/env python3
"""facecat-people show and in (issue 13: who is this, what is in this photo) and naming that cannot surprise, on
real faces that facecat-detect finds in face_recognition's photos:

- `show REF` (a name, p<id>, f<id>, c<id>): a `person` (or `cluster`) record, then one `face` record per face, whose
  ids, paths, boxes, states and crops are the catalog's; JSONL off a terminal, a table on a pseudo-terminal, CSV;
- `in PHOTO` (by path, through a symlink, a copy found by content): a `photo` record and its faces with who each is;
  a photo the catalog does not have is one error line and exit 1;
- `name` refuses a name another person has (exact text, exit 2, the catalog unchanged) and joins them with --merge;
- `facecat-digikam xmp` says how many named faces it left out because they are only suggested, and whose."""
import csv
import io
import json
import os
import pty
import shutil
import sqlite3
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from facecat_test import (TempDir, check, check_eq, check_locale, clean_env, finish, need_testdata, run,  # noqa: E402
                          skip, tool)

check_locale()
FR = need_testdata("faces", "face_recognition")
if not os.environ.get("FACECAT_MODELS_DIR") or not os.path.isdir(os.environ["FACECAT_MODELS_DIR"]):
    skip("FACECAT_MODELS_DIR is not set (scripts/setup fetches the face model)")
PICK = ["obama/obama.jpg", "obama/obama1.jpg", "obama/obama2.jpg", "biden/biden.jpg", "biden/biden2.jpg",
        "_groups_unlabeled/obama_and_biden.jpg"]


SCHEMAS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs", "schema")
try:
    import jsonschema
except ImportError:  # python3-jsonschema (scripts/setup installs it); the rest of the test runs without
    jsonschema = None


def validate(recs, command):
    """Each record against docs/schema/<event>.schema.json (the one vocabulary of every tool)."""
    if jsonschema is None:
        print("SKIPPED part: python3-jsonschema absent; records not validated")
        return
    bad = []
    for r in recs:
        with open(os.path.join(SCHEMAS, f"{r.get('event')}.schema.json"), encoding="utf-8") as f:
            schema = json.load(f)
        errors = [e.message for e in jsonschema.Draft202012Validator(schema).iter_errors(r)]
        if errors:
            bad.append((r, errors))
    check(not bad, f"{command}: every record is valid against its schema ({bad[:2]})")


def sql(cat, q, args=()):
    db = sqlite3.connect(cat)
    try:
        return db.execute(q, args).fetchall()
    finally:
        db.close()


def faces_of_file(cat, path):
    """[(face id, face_index, [x, y, w, h], person id, name, assignment)] of the photo, by face_index."""
    return sql(cat, "SELECT fa.id, fa.face_index, fa.x, fa.y, fa.w, fa.h, fa.person_id, p.name, fa.assignment "
                    "FROM faces fa JOIN files fi ON fi.hash = fa.file_hash LEFT JOIN people p ON p.id = fa.person_id "
                    "WHERE fi.path = ? ORDER BY fa.face_index", (path.encode(),))


def state(cat):
    """Everything naming may change: people and each face's person, assignment and cluster."""
    return (sql(cat, "SELECT id, name, status FROM people ORDER BY id"),
            sql(cat, "SELECT id, person_id, assignment, cluster_id FROM faces ORDER BY id"))


def on_pty(args, home):
    """Runs a tool with stdout on a pseudo-terminal; returns (exit code, what the terminal showed)."""
    master, slave = pty.openpty()
    argv = [tool(args[0])] + args[1:]
    p = subprocess.Popen(argv, stdout=slave, stderr=subprocess.PIPE, env=clean_env(home), cwd=home)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the other side closed
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    p.stderr.read()
    p.wait()
    return p.returncode, out.decode("utf-8").replace("\r\n", "\n")


with TempDir() as tmp:
    home = os.path.join(tmp, "home")
    photos = os.path.join(tmp, "photos")
    cat = os.path.join(tmp, "catalog.db")
    P = {}
    for rel in PICK:
        P[rel] = os.path.join(photos, rel)
        os.makedirs(os.path.dirname(P[rel]), exist_ok=True)
        shutil.copy(os.path.join(FR, rel), P[rel])
    GROUP = P["_groups_unlabeled/obama_and_biden.jpg"]
    r = run(["facecat-scan", "--catalog", cat, photos], home)
    check_eq(r.rc, 0, "scan: exit code")
    r = run(["facecat-detect", "--catalog", cat], home)
    check_eq(r.rc, 0, f"detect: exit code ({r.stderr[-300:]!r})")
    for rel in PICK:
        n = len(faces_of_file(cat, P[rel]))
        check(n >= 2 if rel.startswith("_groups") else n == 1, f"detect: {n} face(s) on {rel}")
    n_group = len(faces_of_file(cat, GROUP))

    # ---- in PHOTO before anyone is named: faces of nobody ----
    r = run(["facecat-people", "--catalog", cat, "in", GROUP], home)
    check_eq(r.rc, 0, "in: exit code")
    recs = r.jsonl()
    validate(recs, "people-in")
    rows = faces_of_file(cat, GROUP)
    file_id, fhash = sql(cat, "SELECT id, hash FROM files WHERE path = ?", (GROUP.encode(),))[0]
    check_eq([e.get("event") for e in recs], ["catalog_photo"] + ["catalog_face"] * n_group, "in: a photo record, then one per face")
    check_eq({k: recs[0].get(k) for k in ("path", "file_id", "hash", "face_count", "analysed")},
             {"path": GROUP, "file_id": file_id, "hash": fhash, "face_count": n_group, "analysed": True},
             "in: the photo record names the file and counts its faces")
    check_eq([(e["face_id"], e["face_index"], e["box"], e["person_id"], e["name"], e["status"], e["path"],
               e["file_id"], e["hash"]) for e in recs[1:]],
             [(f, i, [x, y, w, h], None, None, None, GROUP, file_id, fhash) for f, i, x, y, w, h, *_ in rows],
             "in: face ids, indexes and boxes are the catalog's; nobody is anybody yet")

    # ---- cluster: Obama's and Biden's faces become two suggested, unnamed people ----
    r = run(["facecat-cluster", "--catalog", cat], home)
    check_eq(r.rc, 0, f"cluster: exit code ({r.stderr[-300:]!r})")

    def person_and_cluster(rel):
        return sql(cat, "SELECT fa.person_id, fa.cluster_id FROM faces fa JOIN files fi ON fi.hash = fa.file_hash "
                        "WHERE fi.path = ?", (P[rel].encode(),))[0]
    obama, obama_cluster = person_and_cluster("obama/obama.jpg")
    biden, biden_cluster = person_and_cluster("biden/biden.jpg")
    check(obama is not None and biden is not None and obama != biden and
          person_and_cluster("obama/obama2.jpg") == (obama, obama_cluster) and
          person_and_cluster("biden/biden2.jpg") == (biden, biden_cluster),
          "cluster: Obama's and Biden's faces form two suggested people")
    check_eq(sql(cat, "SELECT name FROM people WHERE id IN (?, ?)", (obama, biden)), [(None,), (None,)],
             "cluster: nobody is named yet")
    r = run(["facecat-people", "--catalog", cat, "name", f"c{obama_cluster}", "Barack Obama"], home)
    check_eq(r.rc, 0, "name Obama's cluster: exit code")
    n_sugg = sql(cat, "SELECT count(*) FROM faces WHERE person_id = ? AND assignment = 'suggested'", (obama,))[0][0]
    check(f"info: p{obama} 'Barack Obama': {n_sugg} of {n_sugg} faces are suggested, not confirmed; facecat-digikam "
          f"exports confirmed faces only ('facecat-people confirm p{obama}' confirms them)\n" in r.stderr.decode(),
          f"name a cluster: says that its faces stay suggested ({r.stderr.decode()[-300:]!r})")
    # split one face off into a person of its own (confirmed), to be named later
    obama1_face = faces_of_file(cat, P["obama/obama1.jpg"])[0][0]
    r = run(["facecat-people", "--catalog", cat, "split", f"f{obama1_face}"], home)
    check_eq(r.rc, 0, "split a face off: exit code")
    single = sql(cat, "SELECT person_id FROM faces WHERE id = ?", (obama1_face,))[0][0]

    # ---- show ----
    def check_show(ref, pid, what):
        r = run(["facecat-people", "--catalog", cat, "show", ref], home)
        check_eq(r.rc, 0, f"{what}: exit code")
        recs = r.jsonl()
        validate(recs, "people-show")
        want = sql(cat, "SELECT fa.id, fa.x, fa.y, fa.w, fa.h, fa.assignment, fa.crop_path, fa.cluster_id, fi.path, "
                        "fi.id, fa.face_index FROM faces fa JOIN files fi ON fi.hash = fa.file_hash "
                        "WHERE fa.person_id = ? AND fa.assignment <> 'rejected' ORDER BY fa.id", (pid,))
        name, status = sql(cat, "SELECT name, status FROM people WHERE id = ?", (pid,))[0]
        head = recs[0] if recs else {}
        n_conf = sum(1 for w in want if w[5] == "confirmed")
        check_eq({k: head.get(k) for k in ("event", "person_id", "name", "status", "face_count", "confirmed_count",
                                           "suggested_count")},
                 {"event": "person", "person_id": pid, "name": name, "status": status, "face_count": len(want),
                  "confirmed_count": n_conf, "suggested_count": len(want) - n_conf},
                 f"{what}: the person record")
        got = sorted((e["face_id"], *e["box"], e["status"], e["crop"], e["cluster_id"], e["path"], e["file_id"],
                      e["face_index"]) for e in recs[1:] if e.get("event") == "catalog_face")
        check_eq(got, sorted((f, x, y, w, h, a, bytes(c).decode() if c else None, cl, bytes(p).decode(), fid, i)
                             for f, x, y, w, h, a, c, cl, p, fid, i in want),
                 f"{what}: one face record per face with the catalog's id, box, status, crop, path")
        check(all(e["crop"] and os.path.isfile(e["crop"]) for e in recs[1:]), f"{what}: every crop is a file")
        statuses = [e["status"] for e in recs[1:]]
        check_eq(statuses, sorted(statuses, key=lambda s: s != "confirmed"), f"{what}: confirmed faces first")
        return recs

    check_show(f"c{biden_cluster}", biden, "show c<cluster> (an unnamed person)")
    check_show(f"p{single}", single, "show p<id> (one confirmed face)")

    # ---- naming that cannot surprise ----
    before = state(cat)
    r = run(["facecat-people", "--catalog", cat, "name", f"c{biden_cluster}", "Barack Obama"], home)
    check_eq((r.rc, r.stdout, r.stderr.decode().splitlines()[:1]),
             (2, b"", [f"facecat-people: error: the name 'Barack Obama' belongs to p{obama} already; to make "
                       f"p{biden} that person run 'facecat-people merge p{obama} p{biden}', or add --merge"]),
             "name a cluster after another person: refused with one line pointing to merge, exit 2")
    check_eq(state(cat), before, "the refused name changed nothing in the catalog")
    r = run(["facecat-people", "--catalog", cat, "name", f"p{single}", "Barack Obama"], home)
    check_eq((r.rc, r.stdout, r.stderr.decode().splitlines()[:1]),
             (2, b"", [f"facecat-people: error: the name 'Barack Obama' belongs to p{obama} already; to make "
                       f"p{single} that person run 'facecat-people merge p{obama} p{single}', or add --merge"]),
             "name p<id> after another person: refused the same way")
    check_eq(state(cat), before, "the second refusal changed nothing either")
    r = run(["facecat-people", "--catalog", cat, "name", f"p{single}", "Barack Obama", "--merge"], home)
    check_eq(r.rc, 0, "name --merge: exit code")
    check_eq([(e.get("event"), e.get("merged_person_id")) for e in r.jsonl()], [("named", single)], "name --merge: one record")
    check_eq(sql(cat, "SELECT count(*) FROM people WHERE id = ?", (single,))[0][0], 0, "name --merge: the person is gone")
    check_eq(sql(cat, "SELECT person_id, assignment FROM faces WHERE id = ?", (obama1_face,)),
             [(obama, "confirmed")], "name --merge: its face is Barack Obama's, still confirmed")
    r = run(["facecat-people", "--catalog", cat, "name", f"c{biden_cluster}", "Joe Biden"], home)
    check_eq(r.rc, 0, "name Biden's cluster: exit code")

    recs = check_show("Barack Obama", obama, "show NAME")
    check(recs[1]["face_id"] == obama1_face and recs[0]["confirmed_count"] == 1 and recs[0]["suggested_count"] >= 2,
          "show: the confirmed face first, then the suggested ones")
    check_eq(run(["facecat-people", "--catalog", cat, "show", f"f{obama1_face}"], home).jsonl(), recs,
             "show f<id>: that face's person, the same records")
    check_eq(run(["facecat-people", "--catalog", cat, "show", f"p{obama}"], home).jsonl(), recs,
             "show p<id>: the same records")
    check_eq(run(["facecat-people", "--catalog", cat, "show", f"c{obama_cluster}"], home).jsonl(), recs,
             "show c<id>: the cluster's person, the same records")

    r = run(["facecat-people", "--catalog", cat, "show", "Nobody Known"], home)
    check_eq((r.rc, r.stdout, r.stderr.decode().splitlines()[:1]),
             (2, b"", ["facecat-people: error: no person named 'Nobody Known' (use p<id>, c<cluster>, f<face> or an "
                       "exact name)"]),
             "show an unknown name: one error line, exit 2, nothing on stdout")

    # CSV
    r = run(["facecat-people", "--catalog", cat, "show", "Barack Obama", "--format", "csv"], home)
    check_eq(r.rc, 0, "show --format csv: exit code")
    rows = list(csv.reader(io.StringIO(r.stdout.decode())))
    check_eq(rows[0], ["face_id", "person_id", "name", "status", "x", "y", "w", "h", "cluster_id", "path", "crop"],
             "show --format csv: the header")
    check_eq(rows[1:],
             [[str(e["face_id"]), str(obama), "Barack Obama", e["status"]] + [str(v) for v in e["box"]] +
              [str(e["cluster_id"]) if e["cluster_id"] is not None else "", e["path"], e["crop"]] for e in recs[1:]],
             "show --format csv: one row per face record")

    # a table on a terminal: a header line, columns, f<id> refs, no JSON and no base64
    rc, out = on_pty(["facecat-people", "--catalog", cat, "show", "Barack Obama"], home)
    lines = out.splitlines()
    head = recs[0]
    check_eq(rc, 0, "show on a terminal: exit code")
    check_eq(lines[0], f"p{obama} 'Barack Obama' (named): {head['face_count']} faces, {head['confirmed_count']} "
                       f"confirmed, {head['suggested_count']} suggested"
                       + "".join(("; clusters " if i == 0 else " ") + f"c{c}" for i, c in enumerate(head["cluster_ids"])),
             "show on a terminal: the person line")
    check_eq(lines[1].split(), ["FACE", "STATUS", "BOX", "PATH", "CROP"], "show on a terminal: the column headers")
    check_eq([l.split()[0] for l in lines[2:]], [f"f{e['face_id']}" for e in recs[1:]],
             "show on a terminal: one row per face, by face reference")
    b = recs[1]["box"]
    check(f"{b[0]},{b[1]} {b[2]}x{b[3]}" in lines[2] and recs[1]["path"] in lines[2],
          f"show on a terminal: the box and path of the first face ({lines[2]!r})")
    check("{" not in out and "descriptor" not in out, "show on a terminal: no JSON, no descriptors")

    # ---- in PHOTO with names ----
    def check_in(arg, what):
        r = run(["facecat-people", "--catalog", cat, "in", arg], home)
        check_eq(r.rc, 0, f"{what}: exit code")
        recs = r.jsonl()
        validate(recs, "people-in")
        want = [(f, i, [x, y, w, h], pid if a != "rejected" else None, name if a != "rejected" else None, a)
                for f, i, x, y, w, h, pid, name, a in faces_of_file(cat, GROUP)]
        check_eq([(e["face_id"], e["face_index"], e["box"], e["person_id"], e["name"], e["status"]) for e in recs[1:]],
                 want, f"{what}: each face with who it is")
        check_eq(recs[0].get("path"), GROUP, f"{what}: the catalog's path")
        return recs

    recs = check_in(GROUP, "in PHOTO")
    check(sorted(e["name"] for e in recs[1:] if e["name"]) == ["Barack Obama", "Joe Biden"],
          f"in PHOTO: Obama and Biden are on the group photo ({[e['name'] for e in recs[1:]]})")
    link = os.path.join(tmp, "link.jpg")
    os.symlink(GROUP, link)
    check_in(link, "in through a symbolic link")
    copy = os.path.join(tmp, "copy.jpg")
    shutil.copy(GROUP, copy)
    check_in(copy, "in a copy the catalog knows by content")
    r = run(["facecat-people", "--catalog", cat, "in", os.path.relpath(GROUP, home)], home)
    check_eq(r.jsonl(), recs, "in a relative path: the same records")

    r = run(["facecat-people", "--catalog", cat, "in", GROUP, "--format", "csv"], home)
    rows = list(csv.reader(io.StringIO(r.stdout.decode())))
    check_eq(rows[0], ["path", "face_id", "face_index", "x", "y", "w", "h", "person_id", "name", "status",
                       "cluster_id"], "in --format csv: the header")
    def cell(v):
        return "" if v is None else str(v)
    check_eq(rows[1:], [[GROUP, str(e["face_id"]), str(e["face_index"])] + [str(v) for v in e["box"]] +
                        [cell(e["person_id"]), cell(e["name"]), cell(e["status"]), cell(e["cluster_id"])]
                        for e in recs[1:]],
             "in --format csv: one row per face")

    rc, out = on_pty(["facecat-people", "--catalog", cat, "in", GROUP], home)
    lines = out.splitlines()
    check_eq(rc, 0, "in on a terminal: exit code")
    check_eq(lines[0], f"{GROUP}: {n_group} faces", "in on a terminal: the photo line")
    check_eq(lines[1].split(), ["FACE", "#", "BOX", "PERSON", "NAME", "STATUS", "CLUSTER"],
             "in on a terminal: the column headers")
    for line, e in zip(lines[2:], recs[1:]):
        who = f"p{e['person_id']}" if e["person_id"] else "-"
        check_eq(line.split()[:2] + line.split()[4:5], [f"f{e['face_id']}", str(e["face_index"]), who],
                 f"in on a terminal: face f{e['face_id']}'s row")
        check((e["name"] or "-") in line and (e["status"] or "-") in line,
              f"in on a terminal: the name and status ({line!r})")
    check_eq(len(lines), 2 + n_group, "in on a terminal: nothing else")

    # a photo the catalog does not have
    stranger = os.path.join(tmp, "stranger.jpg")
    shutil.copy(os.path.join(FR, "obama", "obama_small.jpg"), stranger)
    def one_log_line(r, level, msg):
        """stderr is one log line (spdlog's: 'facecat-x: level: ' on a terminal, timestamped otherwise)."""
        lines = r.stderr.decode().splitlines()
        return len(lines) == 1 and lines[0].endswith(f" {level}: {msg}")

    r = run(["facecat-people", "--catalog", cat, "in", stranger], home)
    why = "not in the catalog (facecat-scan its folder, then facecat-detect)"
    check(r.rc == 1 and one_log_line(r, "error", f"{stranger}: {why}"),
          f"in a photo the catalog lacks: one error line, exit 1 ({r.rc}, {r.stderr.decode()!r})")
    check_eq(r.jsonl(), [{"event": "error", "path": stranger, "reason": why}],
             "in a photo the catalog lacks: one error record")
    nothing = os.path.join(tmp, "nothing.jpg")
    r = run(["facecat-people", "--catalog", cat, "in", nothing, GROUP], home)
    check(r.rc == 1 and one_log_line(r, "error", f"{nothing}: no such file, and the catalog has no photo at this path"),
          f"in a missing file and a photo: one error line, exit 1 ({r.rc}, {r.stderr.decode()!r})")
    check_eq([e["event"] for e in r.jsonl()], ["error", "catalog_photo"] + ["catalog_face"] * n_group, "the photo is still listed")

    # ---- the export says what it left out ----
    def skipped_by_person():
        rows = sql(cat, "SELECT p.id, p.name, count(*) FROM faces fa JOIN people p ON p.id = fa.person_id "
                        "WHERE fa.assignment = 'suggested' AND p.name IS NOT NULL AND fa.label = 'face' "
                        "GROUP BY p.id ORDER BY count(*) DESC, p.id")
        return rows

    sk = skipped_by_person()
    total = sum(n for _, _, n in sk)
    check(total >= 2, f"some named faces are only suggested ({sk})")
    r = run(["facecat-digikam", "--catalog", cat, "xmp"], home)
    check_eq(r.rc, 0, f"xmp: exit code ({r.stderr[-300:]!r})")
    whose = ", ".join(f"{n} (p{p}) {c}" for p, n, c in sk)
    reason = (f"{total} named faces were not exported because they are only suggested, not confirmed: {whose}; "
              f"'facecat-people confirm p{sk[0][0]}' confirms a person's faces, or add --include-suggested")
    check(f" warning: {reason}\n" in r.stderr.decode(),
          f"xmp: one warning line counts the skipped faces and says how to include them ({r.stderr.decode()!r})")
    w = r.events("warning")
    check_eq(w, [{"event": "warning", "reason": reason, "skipped_face_count": total,
                  "people": [{"person_id": p, "name": n, "face_count": c} for p, n, c in sk]}],
             "xmp: one warning record, after the export's records")
    check_eq(r.jsonl()[-1].get("event"), "warning", "xmp: the warning comes last")
    r = run(["facecat-people", "--catalog", cat, "confirm", "Joe Biden"], home)
    check_eq(r.rc, 0, "confirm Joe Biden: exit code")
    sk = skipped_by_person()
    r = run(["facecat-digikam", "--catalog", cat, "xmp"], home)
    check_eq([(e["skipped_face_count"], [p["name"] for p in e["people"]]) for e in r.events("warning")],
             [(sum(n for _, _, n in sk), ["Barack Obama"])], "xmp after confirm: only Obama's suggestions are skipped")
    r = run(["facecat-digikam", "--catalog", cat, "xmp", "--include-suggested"], home)
    check_eq((r.rc, r.events("warning"), "not exported" in r.stderr.decode()), (0, [], False),
             "xmp --include-suggested: nothing skipped, no warning")
    r = run(["facecat-digikam", "--catalog", cat, "csv", "-o", "-"], home)
    check("not exported because" in r.stderr.decode() and b"\"event\"" not in r.stdout,
          "csv -o -: the warning line on stderr, no record in the CSV")

finish()
