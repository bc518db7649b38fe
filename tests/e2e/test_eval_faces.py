#!/usr/bin/env python3
"""scripts/eval-faces on a slice of lfw-dev (8 people x 10 photos, 20 strangers) plus the testdata group photos:
facecat-cluster's pairwise F1 is at least the same-run dlib::chinese_whispers baseline's, the incremental run
(faces in 4 batches) is within 0.01 of the one-shot run, and no person holds two faces of one photo (cannot-link),
also when the group photos are clustered at a loose threshold where the baseline does merge faces of one photo."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from facecat_test import BIN_DIR, TempDir, check, check_locale, clean_env, finish, need_testdata, skip  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main():
    check_locale()
    lfw = need_testdata("faces", "lfw-dev")
    need_testdata("faces", "dlib", "_groups_unlabeled")
    models = os.environ.get("FACECAT_MODELS_DIR", "")
    if not os.path.exists(os.path.join(models, "face-api", "model", "face_recognition_model.bin")):
        skip("face-api weights absent (scripts/setup installs them)")
    with TempDir() as tmp:
        home = os.path.join(tmp, "home")
        p = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "eval-faces"), "--data", lfw, "--bin", BIN_DIR,
                            "--work", os.path.join(tmp, "work"), "--slice", "8:20", "--groups", "--batches", "4"],
                           capture_output=True, text=True, env=clean_env(home), timeout=1200)
        sys.stdout.write(p.stderr)
        if p.returncode == 125:
            skip(p.stderr.strip().splitlines()[-1])
        if not check(p.returncode == 0, f"eval-faces exits 0 (got {p.returncode})"):
            finish()
        r = json.loads(p.stdout.splitlines()[-1])
        c = r["clustering"]
        one, inc, base = c["facecat"], c["incremental"], c["baseline"]
        check(c["labelled"] >= 90, f"the slice's labelled faces were found ({c['labelled']} of 100)")
        check(one["f1"] >= base["f1"], f"clustering F1 {one['f1']:.4f} >= the in-run chinese whispers baseline "
                                      f"{base['f1']:.4f}")
        check(abs(inc["f1"] - one["f1"]) <= 0.01, f"incremental F1 {inc['f1']:.4f} within 0.01 of one-shot "
                                                 f"{one['f1']:.4f}")
        check(one["cannot_link_violations"] == 0, f"one-shot: no person with two faces of one photo "
                                                  f"({one['cannot_link_violations']})")
        check(inc["cannot_link_violations"] == 0, f"incremental: no person with two faces of one photo "
                                                  f"({inc['cannot_link_violations']})")
        g = r["groups"]
        check(g["photos_with_several_faces"] >= 5, f"group photos with several faces: {g['photos_with_several_faces']}")
        check(g["baseline_violations"] > 0, f"at threshold {g['stress_threshold']} plain chinese whispers puts two "
                                            f"faces of one photo together ({g['baseline_violations']} times): the "
                                            f"check can fail")
        check(g["facecat_violations"] == 0, f"at threshold {g['stress_threshold']} facecat-cluster never does "
                                            f"({g['facecat_violations']})")
    finish()


if __name__ == "__main__":
    main()
