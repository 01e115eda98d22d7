"""The web chat's invoice endpoints of petalsln-gateway, end to end with real processes on
loopback (a gateway running the demo model's blocks itself, --local; all money devnet):
POST /api/v1/invoice-status says whether a 402's invoice was paid and hands the preimage to the
holder of its macaroon; POST /api/v1/demo-pay pays a 402's invoice from the --demo-wallet devnet
account. Every bad input: garbage bodies, forged macaroons, another gateway's macaroon, another
invoice, a demo wallet on a gateway without one or beside a non-devnet wallet, and the
per-requester limits."""
import base64
import hashlib
import http.client
import json
import os
import signal
import subprocess
import tempfile
import unittest
import urllib.parse

GATEWAY = os.environ["PETALSLN_GATEWAY"]
WALLET = os.environ["PETALSLN_WALLET"]
MODEL = os.environ["PETALSLN_DEMO_MODEL"]


def wallet(uri, *args):
    out = subprocess.run([WALLET, "--wallet", uri, *args], capture_output=True, timeout=60, check=True)
    return json.loads(out.stdout)


def payment_hash(invoice):
    out = subprocess.run([WALLET, "decode", invoice], capture_output=True, timeout=60, check=True)
    return json.loads(out.stdout)["payment_hash"]


class Gateway:
    """A started petalsln-gateway; `url` from its ready line."""

    def __init__(self, *args):
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([GATEWAY, *args], stdout=subprocess.PIPE, stderr=self.log)
        line = self.proc.stdout.readline().decode()
        if not line.startswith("ready "):
            self.proc.kill()
            raise AssertionError(f"gateway did not become ready: {line!r}\n{self.stderr()}")
        url = dict(kv.split("=", 1) for kv in line.split()[1:])["url"]
        self.host, self.port = url[len("http://"):].rsplit(":", 1)

    def stderr(self):
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def request(self, method, path, body=None, headers=None, source=None):
        conn = http.client.HTTPConnection(self.host, int(self.port), timeout=60, source_address=(source, 0) if source else None)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            data = r.read()
            try:
                parsed = json.loads(data)
            except ValueError:
                parsed = None
            return r.status, {k.lower(): v for k, v in r.getheaders()}, parsed
        finally:
            conn.close()

    def post_json(self, path, obj, source=None):
        body = obj if isinstance(obj, (bytes, str)) else json.dumps(obj)
        return self.request("POST", path, body, {"Content-Type": "application/json"}, source)

    def challenge(self, source=None):
        """An unpaid message's 402 (to a client at @p source): its invoice and macaroon."""
        form = urllib.parse.urlencode({"inputs": "What is 17 + 25?", "max_new_tokens": "4"})
        status, _, body = self.request("POST", "/api/v1/generate", form, {"Content-Type": "application/x-www-form-urlencoded"}, source)
        assert status == 402, (status, body)
        return body["invoice"], body["macaroon"]

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


def flip_signature(macaroon_b64):
    """The same macaroon with one bit of its signature (the last 32 bytes) changed."""
    raw = bytearray(base64.b64decode(macaroon_b64 + "=" * (-len(macaroon_b64) % 4)))
    raw[-1] ^= 1
    return base64.b64encode(bytes(raw)).decode()


class InvoiceApi(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        db = os.path.join(cls.tmp.name, "devnet.db")
        cls.uri = staticmethod(lambda account: f"devnet:{db}?account={account}")
        for account, sats in (("gw", 0), ("gw-other", 0), ("gw-limits", 0), ("demo", 100), ("user", 100)):
            wallet(cls.uri(account), "create-account", account, "--fund-sats", str(sats))
        cls.gateways = []

        def start(name, *extra):
            gw = Gateway("--model", MODEL, "--local", "--price-msat-per-1k-tokens", "10000", "--credit-tokens", "400",
                         "--macaroon-key-file", os.path.join(cls.tmp.name, f"{name}.key"), *extra)
            cls.gateways.append(gw)
            return gw

        try:
            cls.gw = start("gw", "--wallet", cls.uri("gw"), "--demo-wallet", "demo")
            cls.other = start("other", "--wallet", cls.uri("gw-other"))
            cls.limits = start("limits", "--wallet", cls.uri("gw-limits"))
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        statuses = [(gw.stop(), gw.stderr()) for gw in cls.gateways]
        cls.tmp.cleanup()
        for status, log in statuses:
            assert status == 0, log
            # Never a secret in the log: no macaroon, no preimage.
            assert "preimage=" not in log and "macaroon=" not in log, log

    def test_paid_elsewhere_is_noticed_and_the_preimage_handed_over(self):
        invoice, macaroon = self.gw.challenge()
        status, headers, body = self.gw.post_json("/api/v1/invoice-status", {"macaroon": macaroon})
        self.assertEqual((status, body), (200, {"ok": True, "status": "pending"}))
        self.assertEqual(headers["cache-control"], "no-store")
        paid = wallet(self.uri("user"), "pay", invoice)
        status, _, body = self.gw.post_json("/api/v1/invoice-status", {"macaroon": macaroon})
        self.assertEqual((status, body["status"], body["preimage"]), (200, "settled", paid["preimage"]))
        self.assertEqual(hashlib.sha256(bytes.fromhex(body["preimage"])).hexdigest(),
                         payment_hash(invoice))
        # The preimage completes the L402 token: the message goes through.
        form = urllib.parse.urlencode({"inputs": "What is 17 + 25?", "max_new_tokens": "4"})
        status, _, body = self.gw.request("POST", "/api/v1/generate", form, {"Content-Type": "application/x-www-form-urlencoded",
                                                                               "Authorization": f"L402 {macaroon}:{paid['preimage']}"})
        self.assertEqual(status, 200, body)
        self.assertTrue(body["ok"], body)

    def test_demo_wallet_pays_this_gateways_invoice_once(self):
        status, _, config = self.gw.request("GET", "/api/v1/webchat")
        self.assertTrue(config["demo_wallet"])
        self.assertFalse(self.other.request("GET", "/api/v1/webchat")[2]["demo_wallet"])
        before = wallet(self.uri("demo"), "balance")["balance_msat"]
        invoice, macaroon = self.gw.challenge()
        status, _, body = self.gw.post_json("/api/v1/demo-pay", {"macaroon": macaroon, "invoice": invoice})
        self.assertEqual((status, body["status"]), (200, "settled"), body)
        self.assertEqual(hashlib.sha256(bytes.fromhex(body["preimage"])).hexdigest(), payment_hash(invoice))
        self.assertEqual(before - wallet(self.uri("demo"), "balance")["balance_msat"], 4000)
        # Asked again: it is settled already, nothing is paid twice.
        status, _, again = self.gw.post_json("/api/v1/demo-pay", {"macaroon": macaroon, "invoice": invoice})
        self.assertEqual((status, again["status"], again["preimage"]), (200, "settled", body["preimage"]))
        self.assertEqual(before - wallet(self.uri("demo"), "balance")["balance_msat"], 4000)

    def test_bad_inputs(self):
        invoice, macaroon = self.gw.challenge()
        other_invoice, other_macaroon = self.other.challenge()
        for path in ("/api/v1/invoice-status", "/api/v1/demo-pay"):
            for garbage in (b"", b"not json", b"[1, 2]", b"\xff\xfe", json.dumps({"macaroon": 7}), json.dumps({"macaroon": ""}),
                            json.dumps({"macaroon": "A" * 5000}), json.dumps({"nothing": "here"})):
                status, _, body = self.gw.post_json(path, garbage, source="127.0.0.3")
                self.assertEqual(status, 400, (path, garbage, body))
                self.assertFalse(body["ok"])
            # A forged macaroon (one bit of the signature), another gateway's, not a macaroon at all.
            for bad in (flip_signature(macaroon), other_macaroon, "bm90IGEgbWFjYXJvb24="):
                status, _, body = self.gw.post_json(path, {"macaroon": bad, "invoice": invoice}, source="127.0.0.4")
                self.assertEqual(status, 401, (path, body))
                self.assertNotIn(bad, body["traceback"])
            status, _, _ = self.gw.request("GET", path)
            self.assertEqual(status, 405)
        # The demo wallet pays only the invoice the macaroon was sold with: not another gateway's,
        # not garbage.
        status, _, body = self.gw.post_json("/api/v1/demo-pay", {"macaroon": macaroon, "invoice": other_invoice})
        self.assertEqual((status, body["code"]), (403, "wrong_invoice"), body)
        status, _, body = self.gw.post_json("/api/v1/demo-pay", {"macaroon": macaroon, "invoice": "lnbcrt1garbage"})
        self.assertEqual(status, 400, body)
        status, _, body = self.gw.post_json("/api/v1/demo-pay", {"macaroon": macaroon})
        self.assertEqual(status, 400, body)
        # Another of this gateway's own invoices (another requester's, from 127.0.0.2) with this
        # macaroon: still refused, and the requester's own macaroon says that one is pending.
        invoice2, macaroon2 = self.gw.challenge(source="127.0.0.2")
        self.assertNotEqual(invoice2, invoice)
        status, _, body = self.gw.post_json("/api/v1/demo-pay", {"macaroon": macaroon, "invoice": invoice2})
        self.assertEqual((status, body["code"]), (403, "wrong_invoice"), body)
        self.assertEqual(self.gw.post_json("/api/v1/invoice-status", {"macaroon": macaroon2})[2]["status"], "pending")
        # Nothing was paid by any of that.
        status, _, body = self.gw.post_json("/api/v1/invoice-status", {"macaroon": macaroon})
        self.assertEqual(body["status"], "pending")
        # A gateway without a demo wallet has no demo payments.
        status, _, body = self.other.post_json("/api/v1/demo-pay", {"macaroon": other_macaroon, "invoice": other_invoice})
        self.assertEqual(status, 404, body)

    def test_demo_wallet_refused_off_the_devnet(self):
        common = ["--model", MODEL, "--local", "--price-msat-per-1k-tokens", "10000", "--macaroon-key-file", os.path.join(self.tmp.name, "x.key")]
        for args, says in ((["--wallet", "lnbits://127.0.0.1:9?key=k", "--demo-wallet", "demo"], "devnet"),
                           (["--demo-wallet", "demo"], "devnet"),
                           (["--wallet", self.uri("gw"), "--demo-wallet", "NOT A NAME"], "account name"),
                           (["--wallet", self.uri("gw"), "--demo-wallet", "nobody"], "nobody")):
            proc = subprocess.run([GATEWAY, *common, *args], capture_output=True, timeout=60)
            self.assertEqual(proc.returncode, 1, proc.stderr)
            self.assertEqual(proc.stdout, b"")
            self.assertIn(says, proc.stderr.decode())
        # A free gateway issues no invoices: no demo wallet either.
        proc = subprocess.run([GATEWAY, "--model", MODEL, "--local", "--wallet", self.uri("gw"), "--demo-wallet", "demo"], capture_output=True, timeout=60)
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertIn("priced gateway", proc.stderr.decode())

    def test_status_lookups_are_limited_per_requester(self):
        _, macaroon = self.limits.challenge()
        statuses = [self.limits.post_json("/api/v1/invoice-status", {"macaroon": macaroon})[0] for _ in range(30)]
        self.assertEqual(statuses, [200] * 30)
        status, headers, body = self.limits.post_json("/api/v1/invoice-status", {"macaroon": macaroon})
        self.assertEqual((status, body["code"]), (429, "rate_limited"))
        self.assertGreaterEqual(int(headers["retry-after"]), 1)
        # Another requester is not held back by this one.
        self.assertEqual(self.limits.post_json("/api/v1/invoice-status", {"macaroon": macaroon}, source="127.0.0.6")[0], 200)
        # Demo payments: ten an hour per requester, whatever they ask.
        statuses = [self.gw.post_json("/api/v1/demo-pay", b"{}", source="127.0.0.5")[0] for _ in range(11)]
        self.assertEqual(statuses, [400] * 10 + [429])


if __name__ == "__main__":
    unittest.main(verbosity=2)
