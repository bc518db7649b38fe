"""One option grammar for every tool (issue 13), in Exiv2's style: each case is a command, its stdin, and the exact
stdout, stderr and exit code it must give.

- common options (--catalog, --config, --set, -q, -v, --wait, --show-config) before or after a subcommand;
- a multi-value option takes one value per occurrence (--set, --exclude followed by a path);
- unknown options, subcommands and config keys name the closest known one ("did you mean");
- every parse error is one "facecat-x: error: …" line (plus the "command line was" line of usage errors), exit 2;
- a bad config value is a usage error: exit 2.
"""
import json
import os
import shutil

from facecat_test import TempDir, check, check_eq, check_locale, finish, need_testdata, run, tool

check_locale()
faces = need_testdata("faces")


def expect(cmd, stdout="", stderr="", retval=0, stdin=None, env=None, home=None):
    """Runs cmd; stdout and stderr are exact texts (None: not compared; a callable: a predicate)."""
    r = run(cmd, home, stdin=stdin, env=env)
    what = " ".join(cmd)
    check_eq(r.rc, retval, f"{what}: exit code")
    for name, got, want in (("stdout", r.stdout, stdout), ("stderr", r.stderr, stderr)):
        text = got.decode("utf-8", "replace")
        if want is None:
            continue
        if callable(want):
            check(want(text), f"{what}: {name} as expected ({text[-400:]!r})")
        else:
            check_eq(text, want, f"{what}: {name}")
    return r


def usage_error(cmd, message):
    """The two lines of a usage error: the message, then the command line as the tool got it."""
    name = cmd[0]
    argv = [tool(name)] + cmd[1:]
    return f"{name}: error: {message}\n{name}: command line was: {' '.join(argv)}\n"


def parse_error(cmd, message, home):
    expect(cmd, stdout="", stderr=usage_error(cmd, message), retval=2, home=home)


with TempDir() as tmp:
    home = os.path.join(tmp, "home")
    cat = os.path.join(tmp, "cat.db")
    photos = os.path.join(tmp, "photos")
    os.makedirs(photos)
    shutil.copy(os.path.join(faces, "face_recognition/obama/obama.jpg"), os.path.join(photos, "obama.jpg"))
    shutil.copy(os.path.join(faces, "face_recognition/obama/32bit.png"), os.path.join(photos, "32bit.png"))

    # --- typos: unknown subcommands, options and config keys, each with its suggestion ---------------------------
    parse_error(["facecat-catalog", "stat"], "unknown subcommand 'stat', did you mean 'stats'?", home)
    parse_error(["facecat-people", "lst"], "unknown subcommand 'lst', did you mean 'list'?", home)
    parse_error(["facecat-catalog", "pipeline", "lst"], "unknown subcommand 'lst', did you mean 'list'?", home)
    parse_error(["facecat-catalog", "pending", "detcet"], "unknown subcommand 'detcet', did you mean 'detect'?", home)
    parse_error(["facecat-digikam", "xmpp"], "unknown subcommand 'xmpp', did you mean 'xmp'?", home)
    parse_error(["facecat-vk", "fecth", "--user", "1"], "unknown subcommand 'fecth', did you mean 'fetch'?", home)
    parse_error(["facecat-catalog", "frobnicate"],
                "unknown subcommand 'frobnicate' (one of: stats, check, migrate, forget, ingest, merge, pipeline, "
                "pending, models)", home)
    parse_error(["facecat-people"], "a subcommand is required: list, name, show, in, merge, split, confirm, reject, "
                "not-a-face, forget, erase", home)
    parse_error(["facecat-match", "--tolerence", "0.5", "photo.jpg"],
                "unknown option '--tolerence', did you mean '--tolerance'?", home)
    parse_error(["facecat-match", "--tolerence=0.5", "photo.jpg"],
                "unknown option '--tolerence', did you mean '--tolerance'?", home)
    parse_error(["facecat-scan", "--exlude", "*.png", photos], "unknown option '--exlude', did you mean '--exclude'?",
                home)
    parse_error(["facecat-people", "list", "--nmaed"], "unknown option '--nmaed', did you mean '--named'?", home)
    parse_error(["facecat-people", "list", "--catalgo", cat], "unknown option '--catalgo', did you mean '--catalog'?",
                home)
    parse_error(["facecat-scan", "--no-such-flag"], "unknown option '--no-such-flag'", home)
    parse_error(["facecat-people", "list", "extra"], "unexpected argument 'extra'", home)
    parse_error(["facecat-detect", "--set", "faces.min_fac=60", "photo.jpg"],
                "unknown config key 'faces.min_fac', did you mean 'faces.min_face'?", home)
    parse_error(["facecat-scan", "--set", "scan.thread=2", photos],
                "unknown config key 'scan.thread', did you mean 'scan.threads'?", home)
    # CLI11's own messages get the prefix too, on one line.
    r = run(["facecat-match", "--tolerance", "abc", "photo.jpg"], home)
    lines = r.stderr.decode().splitlines()
    check_eq(r.rc, 2, "a value CLI11 cannot convert: exit 2")
    check(len(lines) == 2 and lines[0].startswith("facecat-match: error: ") and "--tolerance" in lines[0]
          and lines[1].startswith("facecat-match: command line was: "), f"one error line, prefixed ({lines!r})")
    parse_error(["facecat-vk", "notify", "--user", "1"], "notify needs --text or --from-match", home)

    # --- a multi-value option takes one value per occurrence ---------------------------------------------------
    parse_error(["facecat-detect", "--set", "faces.min_face=abc", "photo.jpg"],
                "command line: faces.min_face = 'abc' is not an integer", home)
    expect(["facecat-detect", "--set", "faces.min_face=60", "--set", "faces.upsample=1", "--show-config", "photo.jpg"],
           stdout=lambda out: "(command line) faces.min_face = 60\n" in out and "(command line) faces.upsample = 1\n" in out,
           stderr="", home=home)
    r = expect(["facecat-scan", "--exclude", "*.png", photos, "--catalog", cat], stdout=None, stderr=None, home=home)
    check_eq(sorted(os.path.basename(e["path"]) for e in r.events("new")), ["obama.jpg"],
             "--exclude '*.png' PHOTOS: PHOTOS is scanned, the PNG skipped")
    r = expect(["facecat-scan", "--exclude", "*.png", "--exclude", "*.jpg", photos, "--catalog",
                os.path.join(tmp, "other.db")], stdout=None, stderr=None, home=home)
    check_eq(r.jsonl(), [], "--exclude twice: both globs apply")

    # --- a bad config value is a usage error ---------------------------------------------------------------------
    parse_error(["facecat-detect", "--set", "faces.min_face=-5", os.path.join(photos, "obama.jpg")],
                "command line: faces.min_face: pipeline key 'min_face': -5 is outside 8..100000", home)
    parse_error(["facecat-match", "--set", "faces.min_face=-5", os.path.join(photos, "obama.jpg")],
                "command line: faces.min_face: pipeline key 'min_face': -5 is outside 8..100000", home)

    # --- common options after the subcommand, in every tool that has subcommands ----------------------------------
    expect(["facecat-people", "list", "--catalog", cat], stdout="", stderr=None, home=home)
    expect(["facecat-people", "list", "--named", "-q", "--catalog", cat, "--set", "log.level=warn"], stdout="",
           stderr="", home=home)
    expect(["facecat-people", "list", "--show-config", "--catalog", cat],
           stdout=lambda out: f"(command line) catalog.path = {cat}\n" in out, stderr="", home=home)
    forget = ["facecat-people", "forget", "nobody", "--wait", "--catalog", cat]  # parsed, then refused by people
    expect(forget, stdout="", retval=2, home=home,
           stderr=usage_error(forget, "no person named 'nobody' (use p<id>, c<cluster>, f<face> or an exact name)"))
    expect(["facecat-catalog", "stats", "-q", "--catalog", cat],
           stdout=lambda out: json.loads(out)["files"] is not None, stderr="", home=home)
    expect(["facecat-catalog", "pipeline", "list", "-q", "--catalog", cat], stdout=None, stderr="", home=home)
    expect(["facecat-catalog", "pending", "detect", "-q", "--catalog", cat], stdout=None, stderr="", home=home)
    expect(["facecat-catalog", "migrate", "--wait", "-q", "--catalog", cat], stdout=None, stderr="", home=home)
    expect(["facecat-digikam", "csv", "-o", "-", "-q", "--catalog", cat], stdout="path,name,x,y,width,height\r\n",
           stderr="", home=home)
    suggest = ["facecat-vk", "suggest", "--user", "1", "-q", "--catalog", cat]  # parsed, then refused by vk
    expect(suggest, stdout="", retval=2, home=home,
           stderr=usage_error(suggest, "VK user 1 is not in the catalog; run facecat-vk fetch --user 1 first"))
    # and before it, as before
    expect(["facecat-people", "--catalog", cat, "list"], stdout="", stderr=None, home=home)
    expect(["facecat-catalog", "-q", "--catalog", cat, "pipeline", "list"], stdout=None, stderr="", home=home)
finish()
