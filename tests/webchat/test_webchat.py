"""The web chat page end to end: petalsln-gateway (free) in front of a 3-server swarm on the demo
model serves web/chat/ at /, and Debian's headless Chromium, driven by puppeteer-core
(webchat.js), chats through it as a person would. All processes real, on loopback.
Screenshots go to PETALSLN_WEBCHAT_ARTIFACTS (under the build folder)."""
import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
from swarm_harness import Swarm  # noqa: E402

GATEWAY = os.environ["PETALSLN_GATEWAY"]
MODEL = os.environ["PETALSLN_DEMO_MODEL"]
WEB_ROOT = os.environ["PETALSLN_WEB_ROOT"]
ARTIFACTS = os.environ["PETALSLN_WEBCHAT_ARTIFACTS"]
NODE = os.environ.get("PETALSLN_NODE") or "node"
CHROMIUM = os.environ.get("PETALSLN_CHROMIUM") or "/usr/bin/chromium"

if not os.path.isdir(os.path.join(HERE, "node_modules", "puppeteer-core")):
    raise SystemExit(f"{HERE}/node_modules is missing: run scripts/install-js-deps.sh")
if not os.access(CHROMIUM, os.X_OK):
    raise SystemExit(f"{CHROMIUM} is missing: run scripts/install-deps.sh (Debian's chromium)")


class Gateway:
    """A started petalsln-gateway; `url` from its ready line."""

    def __init__(self, *args):
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([GATEWAY, *args], stdout=subprocess.PIPE, stderr=self.log)
        line = self.proc.stdout.readline().decode()
        if not line.startswith("ready "):
            self.proc.kill()
            raise AssertionError(f"gateway did not become ready: {line!r}\n{self.stderr()}")
        self.url = dict(kv.split("=", 1) for kv in line.split()[1:])["url"]
        self.host, self.port = self.url[len("http://"):].rsplit(":", 1)

    def stderr(self):
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def get(self, path):
        conn = http.client.HTTPConnection(self.host, int(self.port), timeout=30)
        try:
            conn.request("GET", path)
            r = conn.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            conn.close()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=60)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self.proc.stdout.close()


class WebChat(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.swarm = Swarm().__enter__()
        try:
            for name, blocks in (("a", "0:3"), ("b", "3:6"), ("c", "6:8")):
                cls.swarm.server(MODEL, blocks, "--identity", os.path.join(cls.tmp.name, f"{name}.key"),
                                 "--public-name", f"server-{name}", name=f"server {name}")
            cls.gw = Gateway("--model", MODEL, "--initial-peers", cls.swarm.dht, "--web-root", WEB_ROOT, "--max-new-tokens", "64")
        except BaseException:
            cls.swarm.__exit__(None, None, None)
            raise

    @classmethod
    def tearDownClass(cls):
        status = cls.gw.stop()
        cls.swarm.__exit__(None, None, None)
        cls.tmp.cleanup()
        assert status == 0, f"the gateway exited {status}\n{cls.gw.stderr()}"

    def test_static_files(self):
        status, headers, body = self.gw.get("/")
        self.assertEqual(status, 200)
        self.assertEqual(headers["content-type"], "text/html; charset=utf-8")
        self.assertIn("script-src 'self'", headers["content-security-policy"])
        self.assertEqual(headers["x-content-type-options"], "nosniff")
        self.assertIn(b"petalsln chat", body)
        for path, kind in (("/app.js", "text/javascript"), ("/style.css", "text/css"), ("/favicon.svg", "image/svg+xml")):
            status, headers, body = self.gw.get(path)
            self.assertEqual(status, 200, path)
            self.assertTrue(headers["content-type"].startswith(kind), headers)
            with open(os.path.join(WEB_ROOT, path[1:]), "rb") as f:
                self.assertEqual(body, f.read())
        # Only the page's own files: no traversal, no other file in the folder, no listing.
        for path in ("/../CMakeLists.txt", "/%2e%2e/CMakeLists.txt", "/web/chat/index.html", "/app.js/", "/vendor/",
                     "/.git/config", "//etc/passwd", "/index.html/..", "/README.md"):
            status, _, body = self.gw.get(path)
            self.assertIn(status, (400, 404), (path, status, body[:200]))
        # The APIs are still where they were.
        status, _, body = self.gw.get("/api/v1/swarm")
        self.assertEqual(status, 200)
        self.assertEqual(len(json.loads(body)["servers"]), 3)

    def test_chat_in_the_browser(self):
        reference = os.path.join(MODEL, "reference.json")
        proc = subprocess.run([NODE, os.path.join(HERE, "webchat.js"), self.gw.url, ARTIFACTS, reference],
                              capture_output=True, timeout=240, env={**os.environ, "PETALSLN_CHROMIUM": CHROMIUM})
        self.assertEqual(proc.returncode, 0, f"{proc.stderr.decode()[-4000:]}\n{self.gw.stderr()[-4000:]}")
        out = json.loads(proc.stdout.decode().strip().splitlines()[-1])

        # The page loaded cleanly and says what the model is.
        self.assertEqual(out["problems"], [])
        self.assertEqual(out["unlabelled"], [])
        self.assertEqual(out["swarm"]["model"], "Model: demo-model")
        self.assertIn("only answers arithmetic", out["swarm"]["about"])
        # The swarm panel: three servers, all eight blocks drawn, none missing.
        names = sorted(row[0] for row in out["swarm"]["rows"])
        self.assertEqual(names, ["server-a", "server-b", "server-c"])
        self.assertEqual(sorted(row[1] for row in out["swarm"]["rows"]), ["0–2", "3–5", "6–7"])
        self.assertEqual(out["swarm"]["blockCells"], 8)
        self.assertEqual(out["swarm"]["missingCells"], 0)
        self.assertIn("All 8 blocks are covered", out["swarm"]["summary"])

        # A conversation, streamed token by token; the second question answered in the same one.
        self.assertEqual(out["first"], "17 + 25 = 42.")
        self.assertGreater(out["firstSteps"], 3, "the reply did not stream")
        self.assertEqual(out["second"], "The capital of Japan is Tokyo.")
        # New chat, then a reference conversation of the demo model, answered exactly.
        self.assertEqual(out["afterNewChat"], 0)
        self.assertEqual(out["reference"]["answers"], out["reference"]["expected"])
        # Stop keeps what was written so far and nothing more; the chat goes on after it.
        full = "I am a tiny demo model, served block by block by a swarm of petalsln servers."
        self.assertTrue(out["stopped"] and full.startswith(out["stopped"]) and out["stopped"] != full, out["stopped"])
        self.assertEqual(out["stoppedMeta"], "Stopped.")
        self.assertEqual(out["afterStop"], "17 + 25 = 42.")
        # A phone-sized screen: no sideways scrolling.
        self.assertLessEqual(out["phone"]["overflow"], 0)
        self.assertGreater(out["phone"]["sendWidth"], 0)
        for name in ("webchat-conversation.png", "webchat-phone.png"):
            self.assertGreater(os.path.getsize(os.path.join(ARTIFACTS, name)), 10000)


if __name__ == "__main__":
    unittest.main(verbosity=2)
