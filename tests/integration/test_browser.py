"""A browser client over ws (the security/transports issue): MQTT.js's browser bundle
(tests/browser: the npm package `mqtt`, pinned by its package-lock.json) in Debian's headless
Chromium connects to a `protocol websockets` listener, subscribes, publishes QoS 1 and gets the
message back, as MQTT 3.1.1 and as MQTT 5 (properties included). `scripts/deps.sh test`
installs chromium, nodejs/npm and tests/browser/node_modules; the test fails, never skips,
when they are missing.

Chromium is driven over --remote-debugging-pipe (the DevTools protocol as NUL-terminated JSON
on fds 3 and 4) and the page's DOM is read once #result says PASS or FAIL. --dump-dom with
--virtual-time-budget is not used: virtual time does not wait for WebSocket frames, so the DOM
was dumped before the first round trip was done."""

import ctypes
import functools
import html
import http.server
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import uuid

from harness import HOST, OwnBrokerTestCase, free_port, wait_until

HERE = os.path.dirname(os.path.abspath(__file__))
BROWSER_DIR = os.path.normpath(os.path.join(HERE, "..", "browser"))
BUNDLE = os.path.join(BROWSER_DIR, "node_modules", "mqtt", "dist", "mqtt.min.js")
CHROMIUM = "/usr/bin/chromium"
RESULT_RE = re.compile(r'<pre id="result">(.*?)</pre>', re.S)
PAGE_TIMEOUT = 30.0  # the page gives up by itself after 15 s
PR_SET_CHILD_SUBREAPER = 36  # <linux/prctl.h>

# Puts the pipe ends on fds 3 and 4, where --remote-debugging-pipe wants them, then execs
# chromium, which keeps this process's pid. A child python does it rather than preexec_fn,
# which is not safe while the HTTP server's thread runs.
FDS_THEN_EXEC = """import os, sys
a, b = int(sys.argv[1]), int(sys.argv[2])
r, w = os.dup(a), os.dup(b)
os.dup2(r, 3)
os.dup2(w, 4)
for fd in {a, b, r, w} - {3, 4}:
    os.close(fd)
os.set_inheritable(3, True)  # dup2 onto itself (r == 3) keeps os.dup's close-on-exec
os.set_inheritable(4, True)
os.execv(sys.argv[3], sys.argv[3:])
"""

# Headless, and nothing but 127.0.0.1: background services off, every host name unresolvable.
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
    "--no-first-run", "--no-default-browser-check", "--disable-extensions",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-domain-reliability", "--metrics-recording-only",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
]


class Chromium:
    """Headless Chromium on one page, spoken to over the DevTools pipe. close() ends it and
    every helper process: they share the process group started for it."""

    def __init__(self, url, tmp):
        to_child, self.to_chrome = os.pipe()
        self.from_chrome, from_child = os.pipe()
        self.log_path = os.path.join(tmp, "chromium.log")
        args = [CHROMIUM] + CHROMIUM_FLAGS + ["--user-data-dir=" + os.path.join(tmp, "profile"),
                                              url]
        # Chromium's helpers outlive its main process by a moment; made orphans, they are
        # reparented to this process, so close() can reap them (pid 1 here reaps late).
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", FDS_THEN_EXEC, str(to_child), str(from_child)] + args,
                pass_fds=(to_child, from_child), stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True)
        os.close(to_child)
        os.close(from_child)
        self.buf = b""
        self.last_id = 0

    def call(self, method, params=None, session=None, timeout=5.0):
        """Sends one command and returns its result; raises RuntimeError on an error reply."""
        self.last_id += 1
        msg = {"id": self.last_id, "method": method, "params": params or {}}
        if session is not None:
            msg["sessionId"] = session
        os.write(self.to_chrome, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            while b"\0" in self.buf:
                raw, self.buf = self.buf.split(b"\0", 1)
                reply = json.loads(raw)
                if reply.get("id") != self.last_id:
                    continue  # an event
                if "error" in reply:
                    raise RuntimeError("%s: %s" % (method, reply["error"]))
                return reply["result"]
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("chromium did not answer %s within %.0f s" % (method, timeout))
            if select.select([self.from_chrome], [], [], left)[0]:
                data = os.read(self.from_chrome, 65536)
                if not data:
                    raise ConnectionError("chromium closed the pipe (exit %s)" % self.proc.poll())
                self.buf += data

    def dom_when_done(self, timeout):
        """The page's DOM once #result says PASS or FAIL, or as it is at the timeout."""
        deadline = time.monotonic() + timeout
        page = wait_until(lambda: [t for t in self.call("Target.getTargets", timeout=timeout)
                                   ["targetInfos"] if t["type"] == "page"], timeout)
        if not page:
            raise AssertionError("chromium opened no page")
        session = self.call("Target.attachToTarget",
                            {"targetId": page[0]["targetId"], "flatten": True})["sessionId"]
        dom = ""
        while time.monotonic() < deadline:
            try:
                got = self.call("Runtime.evaluate",
                                {"expression": "document.documentElement.outerHTML",
                                 "returnByValue": True}, session)
                dom = got["result"].get("value", dom)
            except RuntimeError:
                pass  # no document yet (still navigating)
            m = RESULT_RE.search(dom)
            if m and m.group(1).startswith(("PASS", "FAIL")):
                break
            time.sleep(0.1)
        return dom

    def reap_helpers(self, timeout):
        """Waits for the helpers (killed, reparented here) of chromium's process group."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if os.waitpid(-self.proc.pid, os.WNOHANG)[0] == 0:
                    time.sleep(0.02)
            except ChildProcessError:
                return  # none left

    def log_tail(self, n=3000):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")[-n:]
        except OSError:
            return ""

    def close(self):
        if self.proc.poll() is None:
            try:
                self.call("Browser.close", timeout=2.0)
            except (OSError, RuntimeError, TimeoutError, ConnectionError):
                pass
            try:
                self.proc.wait(5.0)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # helpers left behind, if any
        except ProcessLookupError:
            pass
        self.reap_helpers(5.0)
        os.close(self.to_chrome)
        os.close(self.from_chrome)


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Serves tests/browser; remembers each request line for a failure message."""
    requests = None

    def log_message(self, fmt, *args):
        self.requests.append(fmt % args)


class TestBrowser(OwnBrokerTestCase):

    def serve(self, directory):
        """An HTTP server for directory on 127.0.0.1 in a thread; returns (port, requests)."""
        requests = []
        handler = type("Handler", (QuietHandler,), {"requests": requests})
        srv = http.server.ThreadingHTTPServer(
            (HOST, 0), functools.partial(handler, directory=directory))
        thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1},
                                  daemon=True)
        thread.start()

        def stop():
            srv.shutdown()
            srv.server_close()
            thread.join(5)
        self.addCleanup(stop)
        return srv.server_address[1], requests

    def test_mqttjs_in_chromium_over_ws_v311_and_v5(self):
        self.assertTrue(os.path.exists(BUNDLE),
                        "%s is missing: run scripts/deps.sh test (npm ci in tests/browser)"
                        % BUNDLE)
        self.assertTrue(os.access(CHROMIUM, os.X_OK),
                        "%s is missing: run scripts/deps.sh test" % CHROMIUM)
        ws_port = free_port()
        b = self.broker(["listener %d %s" % (ws_port, HOST), "protocol websockets"])
        http_port, requests = self.serve(BROWSER_DIR)
        run = uuid.uuid4().hex[:10]
        tmp = tempfile.mkdtemp(prefix="starling-browser-")
        self.addCleanup(shutil.rmtree, tmp, ignore_errors=True)
        chrome = Chromium("http://%s:%d/test.html?port=%d&run=%s"
                          % (HOST, http_port, ws_port, run), tmp)
        self.addCleanup(chrome.close)

        dom = chrome.dom_when_done(PAGE_TIMEOUT)
        m = RESULT_RE.search(dom)
        result = html.unescape(m.group(1)) if m else "(no #result in the DOM)"
        self.assertTrue(result.startswith("PASS "),
                        "the page says: %s\nHTTP requests: %s\nchromium log:\n%s"
                        % (result, requests, chrome.log_tail()))
        # Both clients reached the broker as WebSocket clients and left cleanly. The patterns
        # fit Starling's and mosquitto's log lines.
        for v in (4, 5):
            cid = "browser-%s-v%d" % (run, v)
            for what in (r"new client connected from (::ffff:)?127\.0\.0\.1\S* as '?%s\b",
                         r"client '?%s'? disconnected"):
                pattern = re.compile(what % re.escape(cid), re.I)
                self.assertTrue(wait_until(lambda: pattern.search(b.logs())),
                                "no /%s/ in the broker log:\n%s"
                                % (pattern.pattern, b.logs()[-3000:]))


if __name__ == "__main__":
    unittest.main()
