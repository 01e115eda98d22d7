"""Servers paid from message income through petalsln-gateway (issue 14, item 4): a priced
gateway with a payout ledger in front of a 3-server demo swarm whose servers announce Lightning
addresses served by a loopback LNURL-pay service backed by devnet accounts (one server
announces none). Money adds up: what the user paid equals the gateway's income in the devnet's
books, each message's receipt (every dialect) splits its income exactly (fee plus shares), each
address ends up holding exactly its share, the server without an address is skipped, logged
once and reported; a gateway killed mid-payout (SIGKILL while an LNURL callback is held, and
an injected crash right after the invoice is recorded, and one right after the wallet paid)
restarts and pays nobody twice; SIGTERM mid-payout lets the run finish and exits 0.
All processes real, on loopback; all money devnet."""
import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
from lnurl_server import LnurlServer  # noqa: E402
from swarm_harness import Swarm  # noqa: E402

GATEWAY = os.environ["PETALSLN_GATEWAY"]
WALLET = os.environ["PETALSLN_WALLET"]
MODEL = os.environ["PETALSLN_DEMO_MODEL"]
NODE = os.environ.get("PETALSLN_NODE") or "node"
QUESTION = "What is 17 + 25?"
ANSWER = "17 + 25 = 42."
PRICE = 10000  # msat per 1000 tokens: 10 msat a token, so a message's cost is exact
CREDIT = 600
FEE_BPS = 500
FEE_FIXED = 3
USER_FUNDS_MSAT = 1_000_000
BLOCKS = {"alice": (0, 3), "bob": (3, 6), "carol": (6, 8)}


def wallet(uri, *args):
    out = subprocess.run([WALLET, "--wallet", uri, *args], capture_output=True, timeout=60, check=True)
    return json.loads(out.stdout)


class Gateway:
    """A started petalsln-gateway; `url` from its ready line."""

    def __init__(self, args, env=None):
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([GATEWAY, *args], stdout=subprocess.PIPE, stderr=self.log, env={**os.environ, **(env or {})})
        line = self.proc.stdout.readline().decode()
        self.ready = dict(kv.split("=", 1) for kv in line.split()[1:]) if line.startswith("ready ") else None
        if self.ready:
            self.url = self.ready["url"]
            self.host, self.port = self.url[len("http://"):].rsplit(":", 1)

    def stderr(self):
        if self.log.closed:
            return self.saved_stderr
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=60)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self.proc.stdout.close()
            if not self.log.closed:
                self.saved_stderr = self.stderr()
                self.log.close()


def request(gw, method, path, body=None, headers=None):
    """Returns (status, parsed JSON or text) of one request on a fresh connection."""
    conn = http.client.HTTPConnection(gw.host, int(gw.port), timeout=120)
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
    conn.request(method, path, body=body, headers=headers or {})
    resp = conn.getresponse()
    data = resp.read().decode()
    conn.close()
    try:
        return resp.status, json.loads(data)
    except ValueError:
        return resp.status, data


def chat(content, **extra):
    return {"model": "demo-model", "messages": [{"role": "user", "content": content}], "temperature": 0, **extra}


class PayoutsThroughGateway(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.db = os.path.join(cls.tmp.name, "devnet.db")
        wallet(cls.uri("user"), "create-account", "user", "--fund-sats", str(USER_FUNDS_MSAT // 1000))
        for name in ("alice", "bob"):
            wallet(cls.uri(name), "create-account", name, "--fund-sats", "0")
        cls.lnurl = LnurlServer(cls.db, WALLET, min_sendable_msat=1)
        cls.swarm = Swarm().__enter__()
        try:
            for name, (begin, end) in BLOCKS.items():
                address = [] if name == "carol" else ["--lightning-address", cls.lnurl.address(name)]
                cls.swarm.server(MODEL, f"{begin}:{end}", "--public-name", name, *address, name=f"server {name}")
        except BaseException:
            cls.swarm.__exit__(None, None, None)
            raise

    @classmethod
    def tearDownClass(cls):
        cls.lnurl.release.set()
        cls.lnurl.close()
        cls.swarm.__exit__(None, None, None)
        cls.tmp.cleanup()

    @classmethod
    def uri(cls, account):
        return f"devnet:{cls.db}?account={account}"

    def balance(self, account):
        return wallet(self.uri(account), "balance")["balance_msat"]

    def gateway_args(self, name, *extra):
        return ["--model", MODEL, "--initial-peers", self.swarm.dht, "--wallet", self.uri(name),
                "--price-msat-per-1k-tokens", str(PRICE), "--credit-tokens", str(CREDIT),
                "--macaroon-key-file", os.path.join(self.tmp.name, f"{name}.key"), "--max-new-tokens", "64",
                "--ledger", os.path.join(self.tmp.name, f"{name}.ledger"), "--fee-bps", str(FEE_BPS),
                "--fee-fixed-msat", str(FEE_FIXED), "--payout-threshold-sats", "0", "--payout-allow-http-loopback",
                "--payout-timeout", "10", *extra]

    def start(self, name, *extra, env=None):
        gw = Gateway(self.gateway_args(name, *extra), env)
        if gw.ready is None:
            gw.stop(signal.SIGKILL)
            raise AssertionError(f"gateway {name} did not become ready\n{gw.stderr()}")
        return gw

    def buy(self, gw):
        """Pays a 402 of @p gw from the user's account; returns (authorization, msat paid)."""
        status, reply = request(gw, "POST", "/v1/chat/completions", chat(QUESTION, max_tokens=8))
        self.assertEqual(status, 402, reply)
        error = reply["error"]
        self.assertEqual(error["amount_msat"], CREDIT * PRICE // 1000)
        paid = wallet(self.uri("user"), "pay", error["invoice"])
        return f"L402 {error['macaroon']}:{paid['preimage']}", error["amount_msat"]

    def check_receipt(self, r):
        """A receipt's numbers agree with each other, the price and the fee; returns it."""
        self.assertEqual(r["price_msat_per_1k_tokens"], PRICE)
        self.assertEqual(r["charged_tokens"], r["prompt_tokens"] + r["generated_tokens"])
        self.assertEqual(r["charged_msat"], r["charged_tokens"] * PRICE // 1000)
        income = r["charged_msat"]
        self.assertEqual(r["fee_msat"], min(income, FEE_FIXED + income * FEE_BPS // 10000))
        # The split of the message sums exactly to its income minus the fee.
        self.assertEqual(sum(h["earned_msat"] for h in r["route"]), income - r["fee_msat"])
        self.assertEqual(sum(h["block_tokens"] for h in r["route"]), r["block_tokens"])
        self.assertEqual(sorted((h["name"], tuple(h["blocks"])) for h in r["route"]), sorted((n, b) for n, b in BLOCKS.items()))
        for h in r["route"]:
            exact = (income - r["fee_msat"]) * h["block_tokens"] / r["block_tokens"]
            self.assertLess(abs(h["earned_msat"] - exact), 1, r)
            self.assertEqual(len(h["peer"]), 64)
            has_address = h["name"] != "carol"
            self.assertEqual(h["lightning_address"], self.lnurl.address(h["name"]) if has_address else None)
            self.assertEqual(h["paid_to_address"], has_address)
        return r

    def scripted_session(self, gw, authorization):
        """Messages in every dialect, each answered right; returns their receipts."""
        headers = {"Authorization": authorization}
        receipts = []
        status, body = request(gw, "POST", "/v1/chat/completions", chat(QUESTION), headers)
        self.assertEqual((status, body["choices"][0]["message"]["content"]), (200, ANSWER), body)
        receipts.append(body["petalsln_receipt"])
        self.assertEqual(body["usage"]["total_tokens"], receipts[-1]["charged_tokens"])
        status, text = request(gw, "POST", "/v1/chat/completions",
                               chat("Capital of Kenya?", stream=True, stream_options={"include_usage": True}), headers)
        self.assertEqual(status, 200, text)
        events = [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: {")]
        self.assertIn("Nairobi", "".join(e["choices"][0]["delta"].get("content") or "" for e in events if e["choices"]))
        self.assertEqual(events[-1]["choices"], [])
        receipts.append(events[-1]["petalsln_receipt"])
        form = urllib.parse.urlencode({"model": "demo-model", "max_new_tokens": "20",
                                       "inputs": f"<|im_start|>user\n{QUESTION}<|im_end|>\n<|im_start|>assistant\n"})
        status, body = request(gw, "POST", "/api/v1/generate", form,
                               {**headers, "Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual((status, body["ok"], body["outputs"]), (200, True, ANSWER), body)
        receipts.append(body["petalsln_receipt"])
        out = subprocess.run([NODE, os.path.join(HERE, "petals_ws_receipt.js"), gw.url, "demo-model", QUESTION, authorization],
                             cwd=HERE, capture_output=True, timeout=300)
        self.assertEqual(out.returncode, 0, out.stderr.decode(errors="replace")[-3000:])
        ws = json.loads(out.stdout.decode().strip().splitlines()[-1])
        for turn in (ws["first"], ws["second"]):
            self.assertTrue(turn["ok"], turn)
            self.assertEqual(turn["text"], ANSWER)
            self.assertEqual(turn["receipt"]["block_tokens"], turn["block_tokens"])
            receipts.append(turn["receipt"])
        return [self.check_receipt(r) for r in receipts]

    def earned(self, receipts):
        """Each server's total share over @p receipts, by name."""
        out = {name: 0 for name in BLOCKS}
        for r in receipts:
            for h in r["route"]:
                out[h["name"]] += h["earned_msat"]
        return out

    def swarm_earnings(self, gw):
        status, body = request(gw, "GET", "/api/v1/swarm")
        self.assertEqual(status, 200, body)
        return {s["public_name"]: s["earned"] for s in body["servers"]}

    def wait_paid(self, gw, names, timeout=60):
        """Waits until every server in @p names has been paid all it accrued; returns /api/v1/swarm's earnings."""
        deadline = time.monotonic() + timeout
        while True:
            earned = self.swarm_earnings(gw)
            if all(earned[n]["owed_msat"] == 0 and earned[n]["in_flight_msat"] == 0 for n in names):
                return earned
            if time.monotonic() > deadline:
                raise AssertionError(f"payouts did not complete: {earned}\n{gw.stderr()[-3000:]}")
            time.sleep(0.3)

    def test_money_adds_up(self):
        wallet(self.uri("gw-books"), "create-account", "gw-books", "--fund-sats", "0")
        before = {n: self.balance(n) for n in ("user", "alice", "bob")}
        gw = self.start("gw-books", "--payout-interval", "1")
        try:
            authorization, paid = self.buy(gw)
            receipts = self.scripted_session(gw, authorization)
            earned = self.earned(receipts)
            income = sum(r["charged_msat"] for r in receipts)
            # The credit not used is exactly what was paid for and not charged.
            status, credit = request(gw, "GET", "/api/v1/credit", None, {"Authorization": authorization})
            self.assertEqual(status, 200, credit)
            self.assertEqual(income + credit["left_tokens"] * PRICE // 1000, paid)
            swarm = self.wait_paid(gw, ("alice", "bob"))
        finally:
            status = gw.stop()
        self.assertEqual(status, 0, gw.stderr())
        # Each address holds exactly its share; the server with none is reported, not paid.
        for name in ("alice", "bob"):
            self.assertGreater(earned[name], 0)
            self.assertEqual(self.balance(name) - before[name], earned[name], name)
            self.assertEqual((swarm[name]["accrued_msat"], swarm[name]["paid_msat"]), (earned[name], earned[name]), swarm)
            self.assertIsNone(swarm[name]["unpaid_reason"])
        self.assertGreater(earned["carol"], 0)
        self.assertEqual((swarm["carol"]["accrued_msat"], swarm["carol"]["kept_by_gateway_msat"], swarm["carol"]["paid_msat"]),
                         (earned["carol"], earned["carol"], 0))
        self.assertIn("no Lightning address", swarm["carol"]["unpaid_reason"])
        self.assertEqual(gw.stderr().count("server carol"), 1, gw.stderr())
        self.assertIn("is not paid from income: it announced no Lightning address", gw.stderr())
        # The devnet's books: the user paid the gateway exactly `paid`; the gateway holds it
        # less what it paid the servers' addresses.
        self.assertEqual(before["user"] - self.balance("user"), paid)
        self.assertEqual(self.balance("gw-books"), paid - earned["alice"] - earned["bob"])
        print(f"\n  {len(receipts)} messages, income {income} msat of {paid} paid; shares {earned}", file=sys.stderr)

    def run_until_exit(self, name, env):
        """Starts the gateway expecting its payout to end it at an injected crash (exit 77)."""
        gw = Gateway(self.gateway_args(name, "--payout-interval", "3600"), env)
        try:
            self.assertEqual(gw.proc.wait(timeout=120), 77, gw.stderr())
        finally:
            gw.stop(signal.SIGKILL)

    def test_kill_mid_payout_pays_nobody_twice(self):
        name = "gw-crash"
        wallet(self.uri(name), "create-account", name, "--fund-sats", "0")
        before = {n: self.balance(n) for n in ("user", "alice", "bob")}
        gw = self.start(name, "--payout-interval", "3600")  # one run at each start, none after
        try:
            authorization, paid = self.buy(gw)
            receipts = []
            for question in (QUESTION, "Capital of Kenya?"):
                status, body = request(gw, "POST", "/v1/chat/completions", chat(question), {"Authorization": authorization})
                self.assertEqual(status, 200, body)
                receipts.append(self.check_receipt(body["petalsln_receipt"]))
        finally:
            self.assertEqual(gw.stop(), 0, gw.stderr())
        earned = self.earned(receipts)
        # The restart's payout pays alice, then waits in bob's LNURL callback: killed there.
        self.lnurl.held.clear()
        self.lnurl.release.clear()
        self.lnurl.modes["bob"] = "hold_callback"
        gw = self.start(name, "--payout-interval", "3600")
        try:
            self.assertTrue(self.lnurl.held.wait(60), gw.stderr())
        finally:
            gw.stop(signal.SIGKILL)
        self.lnurl.modes["bob"] = "ok"
        self.lnurl.release.set()
        self.assertEqual(self.balance("alice") - before["alice"], earned["alice"])
        self.assertEqual(self.balance("bob") - before["bob"], 0)
        # Next it dies right after recording bob's invoice as in flight, before paying it...
        self.run_until_exit(name, {"PETALSLN_PAYOUT_CRASH_AT": "after_record"})
        self.assertEqual(self.balance("bob") - before["bob"], 0)
        # ...and right after the wallet paid it, before writing that down.
        self.run_until_exit(name, {"PETALSLN_PAYOUT_CRASH_AT": "after_pay"})
        self.assertEqual(self.balance("bob") - before["bob"], earned["bob"])
        # A clean restart settles what is in flight and pays nobody again.
        for _ in range(2):
            gw = self.start(name, "--payout-interval", "3600")
            try:
                swarm = self.wait_paid(gw, ("alice", "bob"))
            finally:
                self.assertEqual(gw.stop(), 0, gw.stderr())
        for n in ("alice", "bob"):
            self.assertEqual(self.balance(n) - before[n], earned[n], n)
            self.assertEqual((swarm[n]["accrued_msat"], swarm[n]["paid_msat"]), (earned[n], earned[n]), swarm)
        self.assertEqual(before["user"] - self.balance("user"), paid)
        self.assertEqual(self.balance(name), paid - earned["alice"] - earned["bob"])

    def test_sigterm_mid_payout_finishes_the_run(self):
        name = "gw-term"
        wallet(self.uri(name), "create-account", name, "--fund-sats", "0")
        before = {n: self.balance(n) for n in ("alice", "bob")}
        gw = self.start(name, "--payout-interval", "3600")
        try:
            authorization, paid = self.buy(gw)
            status, body = request(gw, "POST", "/v1/chat/completions", chat(QUESTION), {"Authorization": authorization})
            self.assertEqual(status, 200, body)
            earned = self.earned([self.check_receipt(body["petalsln_receipt"])])
        finally:
            self.assertEqual(gw.stop(), 0, gw.stderr())
        # The restart's payout waits in bob's callback when SIGTERM arrives: the gateway stops
        # serving, lets the run finish once the callback answers, and exits 0.
        self.lnurl.held.clear()
        self.lnurl.release.clear()
        self.lnurl.modes["bob"] = "hold_callback"
        gw = self.start(name, "--payout-interval", "3600")
        try:
            self.assertTrue(self.lnurl.held.wait(60), gw.stderr())
            gw.proc.send_signal(signal.SIGTERM)
            time.sleep(1)
            self.assertIsNone(gw.proc.poll(), "the gateway ended before its payout run")
        finally:
            self.lnurl.modes["bob"] = "ok"
            self.lnurl.release.set()
            self.assertEqual(gw.stop(), 0, gw.stderr())
        self.assertIn("payouts: paid", gw.stderr())
        for n in ("alice", "bob"):
            self.assertEqual(self.balance(n) - before[n], earned[n], n)
        gw = self.start(name, "--payout-interval", "3600")  # nothing is paid again
        try:
            swarm = self.wait_paid(gw, ("alice", "bob"))
        finally:
            self.assertEqual(gw.stop(), 0, gw.stderr())
        for n in ("alice", "bob"):
            self.assertEqual(self.balance(n) - before[n], earned[n], n)
            self.assertEqual(swarm[n]["paid_msat"], earned[n], swarm)
        self.assertEqual(self.balance(name), paid - earned["alice"] - earned["bob"])

    def test_bad_flags(self):
        def run(*args):
            return subprocess.run([GATEWAY, "--model", MODEL, "--local", *args], capture_output=True, text=True, timeout=120)
        usage = 2  # a malformed command line, as every example program exits on one
        for args, status, why in ((["--no-such-flag"], usage, "The following argument was not expected: --no-such-flag"),
                                  (["--max-sessions", "abc"], usage, "--max-sessions"),
                                  (["--fee-bps", "100"], usage, "--fee-bps requires --ledger"),
                                  (["--payout-interval", "5"], usage, "--payout-interval requires --ledger"),
                                  (["--ledger", "x", "--fee-bps", "10001"], usage, "--fee-bps: Value 10001 not in range"),
                                  (["--ledger", "x", "--payout-interval", "0"], usage, "--payout-interval: Value 0 not in range"),
                                  (["--ledger", "x", "--payout-timeout", "-1"], usage, "--payout-timeout"),
                                  (["--dtype", "f64"], usage, "--dtype must be f32, bf16 or f16"),
                                  (["--quant", "int4"], usage, "--quant must be none or int8"),
                                  (["--ledger", os.path.join(self.tmp.name, "no-wallet.ledger")], 1, "a payout ledger needs a wallet"),
                                  (["--ledger", self.db, "--wallet", self.uri("user")], 1, "not a petalsln payout ledger")):
            out = run(*args)
            self.assertEqual(out.returncode, status, (args, out.stderr))
            self.assertIn(why, out.stderr, args)
            self.assertEqual(out.stdout, "", args)


if __name__ == "__main__":
    unittest.main(verbosity=2)
