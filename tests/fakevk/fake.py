"""Start tests/fakevk/server.py on a loopback port for a test, and read its introspection endpoints."""
import json
import os
import subprocess
import sys
import urllib.request

SERVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "server.py")


class FakeVK:
    def __init__(self, testdata=None, **settings):
        args = [sys.executable, SERVER]
        if testdata:
            settings.setdefault("testdata", testdata)
        for k, v in settings.items():
            args += ["--set", f"{k}={json.dumps(v)}"]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("PORT "):
            self.proc.kill()
            raise RuntimeError("fake VK server did not start: " + line + self.proc.stderr.read())
        self.port = int(line.split()[1])
        self.base = f"http://127.0.0.1:{self.port}"
        self.api_base = self.base + "/method"

    def get(self, path):
        with urllib.request.urlopen(self.base + path, timeout=30) as r:
            return json.load(r)

    def stats(self):
        return self.get("/_fake/stats")

    def graph(self):
        return self.get("/_fake/graph")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.stop()


def expected_crawl(graph, depth, token_kind="user"):
    """The VK ids a crawl of graph['root'] must reach, computed from the fixture (not from the client)."""
    users = graph["users"]
    root = str(graph["root"])
    owner = str(graph["token_owner"])

    def readable(uid):
        u = users[uid]
        if u["status"] in ("deleted", "banned"):
            return False
        if u["status"] == "closed":
            return token_kind == "user" and (uid == owner or int(uid) in users[owner]["friends"])
        return True

    reached = {root}
    level1 = [str(f) for f in users[root]["friends"]] if readable(root) else []
    reached.update(level1)
    if depth >= 2:
        for f in level1:
            if readable(f):
                reached.update(str(x) for x in users[f]["friends"])
    return reached, readable
