"""The web chat page end to end: petalsln-gateway in front of a paid 3-server swarm on the demo
model serves web/chat/ at /, and Debian's headless Chromium, driven by puppeteer-core
(webchat.js), chats through it as a person would: on a gateway free to its users, and on a priced
one paid through an injected WebLN provider that pays from a devnet account; the QR code's invoice
paid from outside the page (the page notices through /api/v1/invoice-status), the devnet demo
wallet's button, receipts whose routes agree with the gateway's earnings, an invoice that expires
and a new one; servers killed between turns, all stopped and back. All processes real, on
loopback; all money devnet. Screenshots go to PETALSLN_WEBCHAT_ARTIFACTS (under the build
folder)."""
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
from swarm_harness import Swarm  # noqa: E402

GATEWAY = os.environ["PETALSLN_GATEWAY"]
MODEL = os.environ["PETALSLN_DEMO_MODEL"]
WALLET = os.environ["PETALSLN_WALLET"]
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


def wallet(uri, *args):
    out = subprocess.run([WALLET, "--wallet", uri, *args], capture_output=True, timeout=60, check=True)
    return json.loads(out.stdout)


def browse(*args):
    """Runs webchat.js; returns what it saw."""
    proc = subprocess.run([NODE, os.path.join(HERE, "webchat.js"), *args], capture_output=True, timeout=240,
                          env={**os.environ, "PETALSLN_CHROMIUM": CHROMIUM})
    if proc.returncode != 0:
        raise AssertionError(f"webchat.js {args[0]} failed:\n{proc.stderr.decode(errors='replace')[-4000:]}")
    return json.loads(proc.stdout.decode().strip().splitlines()[-1])


def browse_steps(on_step, *args):
    """Runs webchat.js in a mode that stops at steps ({"step": NAME} lines): calls on_step(NAME),
    then lets it go on. Returns what it saw."""
    proc = subprocess.Popen([NODE, os.path.join(HERE, "webchat.js"), *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env={**os.environ, "PETALSLN_CHROMIUM": CHROMIUM}, text=True)
    try:
        for line in proc.stdout:
            message = json.loads(line)
            if "step" not in message:
                proc.wait(timeout=60)
                if proc.returncode != 0:
                    raise AssertionError(f"webchat.js {args[0]} failed:\n{proc.stderr.read()[-4000:]}")
                return message
            on_step(message["step"])
            proc.stdin.write("go\n")
            proc.stdin.flush()
        proc.wait(timeout=60)
        raise AssertionError(f"webchat.js {args[0]} failed:\n{proc.stderr.read()[-4000:]}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            pipe.close()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition, what, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def swarm_seen(gw):
    """The servers @p gw sees now."""
    return json.loads(gw.get("/api/v1/swarm")[2])["servers"]


def msat(text):
    """'1.234 sat' or '56 msat', as the page writes amounts, in millisatoshis."""
    number, unit = text.split()
    return round(float(number) * 1000) if unit == "sat" else int(number)


class WebChat(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        db = os.path.join(cls.tmp.name, "devnet.db")
        cls.uri = staticmethod(lambda account: f"devnet:{db}?account={account}")
        for account, sats in (("gw-free", 1000), ("gw-paid", 1000), ("gw-part", 1000), ("user", 1000), ("a", 0), ("b", 0), ("c", 0),
                              ("gw-qr", 1000), ("gw-short", 1000), ("phone", 1000), ("demo", 1000), ("user2", 1000)):
            wallet(cls.uri(account), "create-account", account, "--fund-sats", str(sats))
        cls.swarm = Swarm().__enter__()
        cls.gw = cls.paid = cls.part = cls.qr = cls.short = None
        try:
            servers = {}
            for name, blocks, weights in (("a", "0:3", []), ("b", "3:6", []), ("c", "6:8", ["--quant", "int8"])):
                servers[name] = cls.swarm.server(MODEL, blocks, "--price-msat", "1000", "--wallet", cls.uri(name),
                                 "--identity", os.path.join(cls.tmp.name, f"{name}.key"),
                                 "--public-name", f"server-{name}", *weights, name=f"server {name}")
            common = ["--model", MODEL, "--initial-peers", cls.swarm.dht, "--web-root", WEB_ROOT, "--max-new-tokens", "64"]
            # Free to its users; pays the servers itself.
            cls.gw = Gateway(*common, "--wallet", cls.uri("gw-free"), "--budget-sats", "500")
            # Sells 400 tokens for 4 sat (10 sat per 1000 tokens).
            cls.paid = Gateway(*common, "--wallet", cls.uri("gw-paid"), "--budget-sats", "500", "--price-msat-per-1k-tokens", "10000",
                               "--credit-tokens", "400", "--macaroon-key-file", os.path.join(cls.tmp.name, "paid.key"))
            # Sees only servers a and b: blocks 6-7 have no server.
            cls.part = Gateway("--model", MODEL, "--peers", ",".join(servers[n].ready["endpoint"] for n in ("a", "b")), "--web-root", WEB_ROOT,
                               "--wallet", cls.uri("gw-part"), "--budget-sats", "500", "--timeout", "5")
            # Paid from outside the page and from its devnet demo wallet; servers paid from the
            # message income (a ledger, a 10% fee), so receipts show what each server earned.
            cls.qr = Gateway(*common, "--wallet", cls.uri("gw-qr"), "--budget-sats", "500", "--price-msat-per-1k-tokens", "10000",
                             "--credit-tokens", "400", "--macaroon-key-file", os.path.join(cls.tmp.name, "qr.key"), "--demo-wallet", "demo",
                             "--ledger", os.path.join(cls.tmp.name, "qr-ledger.sqlite"), "--fee-bps", "1000")
            # Its invoices expire after 10 s.
            cls.short = Gateway(*common, "--wallet", cls.uri("gw-short"), "--budget-sats", "500", "--price-msat-per-1k-tokens", "10000",
                                "--credit-tokens", "400", "--macaroon-key-file", os.path.join(cls.tmp.name, "short.key"),
                                "--invoice-expiry", "10")
        except BaseException:
            cls.stop_all()
            raise

    @classmethod
    def stop_all(cls):
        statuses = {}
        for name in ("gw", "paid", "part", "qr", "short"):
            gw = getattr(cls, name)
            if gw is not None:
                statuses[name] = (gw.stop(), gw.stderr())
        cls.swarm.__exit__(None, None, None)
        cls.tmp.cleanup()
        return statuses

    @classmethod
    def tearDownClass(cls):
        for name, (status, log) in cls.stop_all().items():
            assert status == 0, f"the {name} gateway exited {status}\n{log}"

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
        out = browse("free", self.gw.url, ARTIFACTS, os.path.join(MODEL, "reference.json"))

        # The page loaded cleanly and says what the model is.
        self.assertEqual(out["problems"], [])
        self.assertEqual(out["unlabelled"], [])
        self.assertEqual(out["swarm"]["model"], "Model: demo-model")
        self.assertIn("only answers arithmetic", out["swarm"]["about"])
        # The swarm panel: three servers, all eight blocks drawn, none missing.
        names = sorted(row[0] for row in out["swarm"]["rows"])
        self.assertEqual(names, ["server-a", "server-b", "server-c"])
        self.assertEqual(sorted(row[1] for row in out["swarm"]["rows"]), ["0–2", "3–5", "6–7"])
        # Each server's weight format, as it announced it (server c keeps int8 weights).
        self.assertEqual({row[0]: row[3] for row in out["swarm"]["rows"]}, {"server-a": "f32", "server-b": "f32", "server-c": "int8"})
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


    def test_paying_in_the_browser(self):
        status, _, body = self.paid.get("/api/v1/webchat")
        self.assertEqual(status, 200)
        config = json.loads(body)
        self.assertEqual((config["free"], config["price_msat_per_1k_tokens"], config["credit_tokens"], config["context_length"]),
                         (False, 10000, 400, 256))
        user_before = wallet(self.uri("user"), "balance")
        out = browse("paid", self.paid.url, ARTIFACTS, WALLET, self.uri("user"))
        self.assertEqual(out["problems"], [])
        # The price is shown before the first message; no credit yet.
        self.assertIn("10 sat per 1000 tokens", out["price"])
        self.assertFalse(out["creditShownBefore"])
        # The payment dialog: the amount, the devnet said plainly, the QR code, the invoice, the link.
        self.assertIn("4 sat buys 400 tokens", out["dialog"]["amount"])
        self.assertIn("not real bitcoin", out["dialog"]["devnet"])
        self.assertTrue(out["dialog"]["invoice"].startswith("lnbcrt"), out["dialog"])
        self.assertEqual(out["dialog"]["link"], "lightning:" + out["dialog"]["invoice"])
        self.assertGreater(out["dialog"]["qr"], 100)
        self.assertEqual(out["dialog"]["focused"], "pay-webln")
        # Paid through WebLN, the message goes through; one payment, of that invoice.
        self.assertTrue(out["dialogClosed"])
        self.assertEqual(out["first"], "17 + 25 = 42.")
        self.assertEqual([p["invoice"] for p in out["payments"]], [out["dialog"]["invoice"]])
        # The credit after each message, and the receipt, agree with the gateway's meter.
        auth = out["token"]
        self.assertTrue(auth.startswith("L402 ") and auth.endswith(":" + out["payments"][0]["preimage"]))
        conn = http.client.HTTPConnection(self.paid.host, int(self.paid.port), timeout=30)
        conn.request("GET", "/api/v1/credit", headers={"Authorization": auth})
        left = json.loads(conn.getresponse().read())["left_tokens"]
        conn.close()
        self.assertRegex(out["credit1"], r"^Credit left: \d+ tokens")
        first_left = int(out["credit1"].split()[2])
        self.assertLess(first_left, 400)
        self.assertIn(f"Credit left\n{first_left} tokens", out["receipt1"])
        self.assertIn(f"Charged\n{400 - first_left} tokens", out["receipt1"])
        self.assertIn("Tokens written\n", out["receipt1"])
        # The second message is paid from the credit left: no new invoice.
        self.assertEqual(out["second"], "The capital of Japan is Tokyo.")
        self.assertEqual(out["paymentsAfterSecond"], 1)
        second_left = int(out["credit2"].split()[2])
        self.assertLess(second_left, first_left)
        # A reload keeps the token and its credit; the next message needs no payment either.
        self.assertEqual(out["creditAfterReload"], out["credit2"])
        self.assertEqual(out["third"], "17 + 25 = 42.")
        self.assertEqual(out["paymentsAfterReload"], 1)
        self.assertLess(left, second_left)
        self.assertEqual(out["creditAfterReload"].split()[2], str(second_left))
        # The devnet's books: the user paid exactly the invoice's 4 sat (devnet payments carry no fee).
        user_after = wallet(self.uri("user"), "balance")
        self.assertEqual(user_before["balance_msat"] - user_after["balance_msat"], 4000)
        self.assertGreater(os.path.getsize(os.path.join(ARTIFACTS, "webchat-payment.png")), 10000)


    def test_missing_blocks_in_the_browser(self):
        out = browse("outage", self.part.url, ARTIFACTS)
        self.assertEqual(out["problems"], [])
        self.assertEqual(out["missingCells"], ["6", "7"])
        self.assertIn("Blocks 6, 7 have no server", out["summary"])
        self.assertTrue(out["errorShown"])
        self.assertIn("No server in the swarm is serving blocks 6-7", out["error"])
        # Nothing lost: the message is back in the composer, ready to send again.
        self.assertEqual(out["composer"], "What is 17 + 25?")
        self.assertTrue(out["sendEnabled"])

    def test_paid_from_outside_the_page_and_from_the_demo_wallet(self):
        phone_before = wallet(self.uri("phone"), "balance")["balance_msat"]
        demo_before = wallet(self.uri("demo"), "balance")["balance_msat"]
        out = browse("qr", self.qr.url, ARTIFACTS, WALLET, self.uri("phone"))
        self.assertEqual(out["problems"], [])
        # The demo wallet is offered, and said everywhere to be the devnet's test money.
        self.assertIn("devnet", out["price"])
        self.assertIn("not real bitcoin", out["price"])
        self.assertIn("devnet, not real money", out["dialog"]["demo"])
        self.assertIn("not real bitcoin", out["dialog"]["devnet"])
        self.assertIn("notices the payment", out["dialog"]["watch"])
        self.assertLessEqual(out["phoneDialog"]["overflow"], 0)
        self.assertLessEqual(out["phoneDialog"]["right"], 0)
        # Paid with petalsln-wallet from outside: the page noticed, closed the dialog, and the
        # message went through with the preimage the gateway handed over.
        self.assertEqual(out["first"], "17 + 25 = 42.")
        self.assertTrue(out["dialogClosed"])
        self.assertLess(out["noticedMs"], 30000)
        self.assertTrue(out["token1"].startswith("L402 ") and out["token1"].endswith(":" + out["outsidePreimage"]), out["token1"])
        self.assertEqual(phone_before - wallet(self.uri("phone"), "balance")["balance_msat"], 4000)
        # The demo wallet paid the next invoice; the answer came.
        self.assertEqual(out["demoAnswer"], "The capital of Japan is Tokyo.")
        self.assertNotEqual(out["demoDialog"]["invoice"], out["dialog"]["invoice"])
        self.assertNotEqual(out["token2"], out["token1"])
        self.assertEqual(demo_before - wallet(self.uri("demo"), "balance")["balance_msat"], 4000)
        # Receipts: the route's three servers by their public names and blocks, what each earned.
        earned = {}
        for receipt in (out["receipt1"], out["receipt2"]):
            self.assertEqual([(r[0], r[1]) for r in receipt["route"]], [("server-a", "0–2"), ("server-b", "3–5"), ("server-c", "6–7")],
                             receipt)
            charged = re.search(r"Charged\n(\d+) tokens = ([\d.]+ (?:sat|msat))", receipt["text"])
            fee = re.search(r"Kept by the gateway\n([\d.]+ (?:sat|msat))", receipt["text"])
            self.assertTrue(charged and fee, receipt["text"])
            shares = [msat(r[3]) for r in receipt["route"]]
            self.assertTrue(all(s > 0 for s in shares), receipt["route"])
            # The shares and the gateway's fee add up to what the message cost.
            self.assertEqual(sum(shares) + msat(fee.group(1)), msat(charged.group(2)))
            self.assertEqual(msat(charged.group(2)), (int(charged.group(1)) * 10000 + 999) // 1000)
            for r, share in zip(receipt["route"], shares):
                earned[r[0]] = earned.get(r[0], 0) + share
        # ... and agree with what the gateway says each server earned from message income.
        status, _, body = self.qr.get("/api/v1/swarm")
        swarm = {s["public_name"]: s["earned"] for s in json.loads(body)["servers"]}
        self.assertEqual({name: e["accrued_msat"] - e["paywall_msat"] for name, e in swarm.items()}, earned)
        charged2 = int(re.search(r"Charged\n(\d+) tokens", out["receipt2"]["text"]).group(1))
        self.assertIn(f"Credit left: {400 - charged2} tokens", out["credit2"])
        for name in ("webchat-payment-dialog.png", "webchat-receipt.png"):
            self.assertGreater(os.path.getsize(os.path.join(ARTIFACTS, name)), 10000)

    def test_an_expired_invoice_and_a_new_one(self):
        out = browse("expiry", self.short.url, ARTIFACTS, WALLET, self.uri("user2"))
        self.assertEqual(out["problems"], [])
        self.assertIn("The invoice expired — get a new one.", out["expired"]["text"])
        self.assertEqual(out["expired"]["focused"], "pay-renew")
        self.assertTrue(out["expired"]["weblnDisabled"])
        self.assertNotEqual(out["second"]["invoice"], out["first"]["invoice"])
        self.assertTrue(out["expiredHiddenAgain"])
        # Only the new invoice was paid, and the message went through.
        self.assertEqual([p["invoice"] for p in out["payments"]], [out["second"]["invoice"]])
        self.assertEqual(out["answer"], "17 + 25 = 42.")

    def test_zz_servers_killed_stopped_and_back(self):
        # Its own swarm (a DHT of its own, so no other gateway sees these servers) on fixed
        # ports, and a gateway that asks exactly those ports: a server that is down is simply
        # not in its swarm.
        ports = {name: free_port() for name in ("a", "a2", "b", "c")}
        blocks = {"a": "0:3", "a2": "0:3", "b": "3:6", "c": "6:8"}
        with self.swarm.__class__() as swarm:
            def start(name):
                return swarm.server(MODEL, blocks[name], "--port", str(ports[name]), "--public-name", f"r-{name}",
                                    "--identity", os.path.join(self.tmp.name, f"r-{name}.key"), name=f"r-{name}")
            servers = {name: start(name) for name in ("a", "b", "c")}
            gw = Gateway("--model", MODEL, "--peers", ",".join(f"127.0.0.1:{p}" for p in ports.values()), "--web-root", WEB_ROOT,
                         "--timeout", "5", "--max-new-tokens", "64")
            try:
                def on_step(name):
                    if name == "kill-route":
                        servers["a2"] = start("a2")
                        wait_for(lambda: len(swarm_seen(gw)) == 4, "the second server for blocks 0-2")
                        servers["a"].kill()  # the server holding the conversation's first hop
                    elif name == "stop-all":
                        for s in ("a2", "b", "c"):
                            self.assertEqual(servers[s].stop(), 0, servers[s].stderr())
                        wait_for(lambda: not swarm_seen(gw), "the gateway to see no server")
                    elif name == "restart-all":
                        for s in ("a", "b", "c"):
                            servers[s] = start(s)
                        wait_for(lambda: len(swarm_seen(gw)) == 3, "the gateway to see the servers back")
                out = browse_steps(on_step, "resilience", gw.url, ARTIFACTS)
            finally:
                self.assertEqual(gw.stop(), 0, gw.stderr())
        self.assertEqual(out["problems"], [])
        self.assertEqual(out["first"], "17 + 25 = 42.")
        # The server on the route was killed between the turns: the next turn is answered.
        self.assertEqual(out["second"], "The capital of Japan is Tokyo.")
        # Every server stopped: the page says which blocks are missing, in words and in the panel.
        self.assertTrue(out["outageIsError"])
        self.assertIn("No server in the swarm is serving blocks 0-", out["outage"])
        self.assertEqual(out["outageMissing"], [str(i) for i in range(8)])
        self.assertIn("have no server", out["outageSummary"])
        self.assertEqual(out["composer"], "What is the capital of Kenya?")
        # They came back: the same message, sent again, is answered; the panel is whole again.
        self.assertIn("Nairobi", out["recovered"])
        self.assertIn("All 8 blocks are covered", out["recoveredSummary"], out["recoveredRows"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
