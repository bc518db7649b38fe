"""A real headless Chromium (Debian's /usr/bin/chromium) driven through the DevTools protocol with Debian's
python3-websocket: clicks and keys are dispatched as input events, as a person's would be, and counted."""
import base64
import json
import re
import shutil
import subprocess
import threading
import time
import urllib.request

try:
    import websocket  # python3-websocket
except ImportError:
    # a python3 that is not Debian's (pyenv, a venv) does not see Debian's packages: look there too
    import sys
    sys.path.append("/usr/lib/python3/dist-packages")
    try:
        import websocket
    except ImportError:  # the caller skips
        websocket = None


def chromium_path():
    return shutil.which("chromium") or shutil.which("chromium-browser")


class Browser:
    def __init__(self, profile_dir, width=1280, height=1000):
        exe = chromium_path()
        self.proc = subprocess.Popen(
            [exe, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
             "--disable-extensions", "--disable-background-networking", "--remote-debugging-port=0",
             "--remote-allow-origins=*", f"--user-data-dir={profile_dir}", f"--window-size={width},{height}",
             "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        port = None
        for line in self.proc.stderr:  # the first lines; chromium prints the DevTools address at start
            m = re.search(rb"DevTools listening on ws://[^:]+:(\d+)/", line)
            if m:
                port = int(m.group(1))
                break
        if port is None:
            raise RuntimeError("chromium did not start its DevTools server")
        threading.Thread(target=lambda: [None for _ in self.proc.stderr], daemon=True).start()
        no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        targets = json.loads(no_proxy.open(f"http://127.0.0.1:{port}/json/list", timeout=60).read())
        page = next(t for t in targets if t.get("type") == "page")
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=300)
        self.next_id = 0
        self.clicks = 0
        self.keys = 0
        self.call("Page.enable")
        self.call("Runtime.enable")

    def close(self):
        try:
            self.ws.close()
        except Exception:
            pass
        self.proc.kill()
        self.proc.wait()

    def call(self, method, **params):
        self.next_id += 1
        my = self.next_id
        self.ws.send(json.dumps({"id": my, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == my:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    def eval(self, expr):
        r = self.call("Runtime.evaluate", expression=expr, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            raise RuntimeError(f"{expr[:80]}: {r['exceptionDetails'].get('text')}")
        return r.get("result", {}).get("value")

    def wait(self, expr, what, timeout=180):
        """Polls a JavaScript condition until it is truthy (an observable event), with a generous deadline."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                v = self.eval(expr)
            except (RuntimeError, KeyError):
                v = None  # the page is being replaced
            if v:
                return v
            time.sleep(0.05)
        raise TimeoutError(f"waiting for {what}")

    def goto(self, url):
        self.call("Page.navigate", url=url)

    def generation(self):
        return self.eval("document.readyState === 'complete' && document.body ? +document.body.dataset.generation : -1")

    def wait_loaded(self, after=None, what="the page"):
        """Until the page is complete (and its data-generation is above `after`)."""
        cond = "document.readyState === 'complete' && document.body && document.body.dataset.generation !== undefined"
        if after is not None:
            cond += f" && +document.body.dataset.generation > {after}"
        self.wait(cond, what)

    def center(self, selector):
        sel = json.dumps(selector)
        box = self.eval(f"(() => {{ const e = document.querySelector({sel}); if (!e) return null;"
                        f" e.scrollIntoView({{block: 'center'}}); const r = e.getBoundingClientRect();"
                        f" return [r.x + r.width / 2, r.y + r.height / 2]; }})()")
        if not box:
            raise RuntimeError(f"no element {selector}")
        return box

    def click(self, selector):
        x, y = self.center(selector)
        self.call("Input.dispatchMouseEvent", type="mouseMoved", x=x, y=y)
        self.call("Input.dispatchMouseEvent", type="mousePressed", x=x, y=y, button="left", clickCount=1)
        self.call("Input.dispatchMouseEvent", type="mouseReleased", x=x, y=y, button="left", clickCount=1)
        self.clicks += 1

    def type(self, text):
        for ch in text:
            self.call("Input.dispatchKeyEvent", type="keyDown", text=ch, key=ch, unmodifiedText=ch)
            self.call("Input.dispatchKeyEvent", type="keyUp", key=ch)
            self.keys += 1

    KEYS = {"Enter": (13, "\r"), "PageDown": (34, ""), "PageUp": (33, ""), "Backspace": (8, "")}

    def key(self, name):
        code, text = self.KEYS[name]
        down = dict(type="keyDown", key=name, code=name, windowsVirtualKeyCode=code, nativeVirtualKeyCode=code)
        if text:
            down["text"] = text
            down["unmodifiedText"] = text
        self.call("Input.dispatchKeyEvent", **down)
        self.call("Input.dispatchKeyEvent", type="keyUp", key=name, code=name, windowsVirtualKeyCode=code,
                  nativeVirtualKeyCode=code)
        self.keys += 1

    def screenshot(self, path, selector=None):
        """A PNG of the whole page, or of one element (scrolled into view first). Only the whole page is captured
        beyond the viewport: that resizes the page for a moment, and a click right after could miss."""
        params = {"format": "png", "captureBeyondViewport": not selector}
        if selector:
            self.center(selector)
            r = self.eval(f"(() => {{ const e = document.querySelector({json.dumps(selector)}); if (!e) return null;"
                          f" const r = e.getBoundingClientRect(); return [r.x + scrollX, r.y + scrollY, r.width,"
                          f" r.height]; }})()")
            if r:
                params["clip"] = {"x": r[0], "y": r[1], "width": r[2], "height": r[3], "scale": 1}
        data = base64.b64decode(self.call("Page.captureScreenshot", **params)["data"])
        with open(path, "wb") as f:
            f.write(data)
        return data
