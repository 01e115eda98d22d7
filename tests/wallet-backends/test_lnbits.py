"""The LNbits backend (lnbits://) against a loopback LNbits counterpart.

The counterpart (lnbits_counterpart.py) serves real HTTPS with a certificate made here and is
backed by a devnet account, so the conformance suite's payments really move money. Beyond the
suite: the documented error bodies and statuses, an invoice key used to pay, a wrong key, the
fee reserve against max_fee_msat, whole-sat amounts, a slow reply, an oversized reply, a
certificate the client must not trust, replies that lie, malformed URIs.

Run by CTest with PETALSLN_WALLET and PETALSLN_WALLET_CONFORMANCE set. Standard library only.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import devnet_bridge  # noqa: E402

WALLET = os.environ["PETALSLN_WALLET"]
CONFORMANCE = os.environ["PETALSLN_WALLET_CONFORMANCE"]
HERE = os.path.dirname(os.path.abspath(__file__))
ADMIN_KEY = "4f2a9c1e8b7d46a0b3c5d9e1f7a2b6c8"
INVOICE_KEY = "9d8c7b6a5f4e43d2c1b0a9f8e7d6c5b4"

# What LNbits cannot do; the suite must skip these, with LNbits' reason, never pass them.
EXPECTED_SKIPS = {
    "invoice_amountless": "amount-less",
    "counterparty_pays_amountless_invoice": "amount-less",
    "wallet_pays_amountless_invoice_with_amount": "amount-less",
}


def wallet_cli(*args, timeout=120):
    return subprocess.run([WALLET, *args], capture_output=True, text=True, timeout=timeout)


class LnbitsBackend(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="petalsln-lnbits-")
        cls.devnet = os.path.join(cls.dir, "devnet.db")
        cls.node_uri = devnet_bridge.create_account(WALLET, cls.devnet, "lnbits-wallet", 2_000)
        cls.counterparty_uri = devnet_bridge.create_account(WALLET, cls.devnet, "counterparty", 2_000)
        cls.cert, key = devnet_bridge.make_tls_cert(cls.dir, "lnbits")
        cls.other_cert, _ = devnet_bridge.make_tls_cert(cls.dir, "stranger")
        cls.procs = []
        cls.port = cls.start(cls, key, 0)
        # A second server whose LNbits reserves 2 sat for routing fees.
        cls.reserve_port = cls.start(cls, key, 2_000)
        cls.tls = devnet_bridge.client_tls_context(cls.cert)

    def start(cls, key, reserve):
        proc, ready = devnet_bridge.start_counterpart(
            [sys.executable, os.path.join(HERE, "lnbits_counterpart.py"), "--wallet-bin", WALLET, "--devnet-uri",
             cls.node_uri, "--admin-key", ADMIN_KEY, "--invoice-key", INVOICE_KEY, "--cert", cls.cert, "--key", key,
             "--reserve-fee-msat", str(reserve)])
        cls.procs.append(proc)
        return ready["port"]

    @classmethod
    def tearDownClass(cls):
        for proc in cls.procs:
            devnet_bridge.stop_counterpart(proc)
        shutil.rmtree(cls.dir, ignore_errors=True)

    def tearDown(self):
        devnet_bridge.set_faults(self.port, self.tls)

    def uri(self, key=ADMIN_KEY, cert=None, port=None, extra=""):
        return f"lnbits://127.0.0.1:{port or self.port}?key={key}&cert={cert or self.cert}{extra}"

    def fails(self, *args, wallet=None):
        proc = wallet_cli(*args, "--wallet", wallet or self.uri())
        self.assertEqual(proc.returncode, 1, proc.stdout + proc.stderr)
        self.assertNotIn(ADMIN_KEY, proc.stderr)
        self.assertNotIn(INVOICE_KEY, proc.stderr)
        return proc.stderr

    def ok(self, *args, wallet=None):
        proc = wallet_cli(*args, "--wallet", wallet or self.uri())
        self.assertEqual(proc.returncode, 0, proc.stderr)
        return json.loads(proc.stdout)

    def test_conformance_suite(self):
        proc = subprocess.run([CONFORMANCE, "--wallet", self.uri(), "--counterparty", self.counterparty_uri,
                               "--secret", ADMIN_KEY], capture_output=True, text=True, timeout=400)
        out = proc.stdout
        self.assertEqual(proc.returncode, 0, out + proc.stderr)
        lines = out.strip().splitlines()
        verdicts = {line.split(" ", 2)[1].rstrip(":"): line for line in lines[:-1]}
        for name, line in verdicts.items():
            if name in EXPECTED_SKIPS:
                self.assertTrue(line.startswith("SKIP"), line)
                self.assertIn(EXPECTED_SKIPS[name], line)
            else:
                self.assertTrue(line.startswith("PASS"), line)
        summary = json.loads(lines[-1])
        self.assertEqual(summary["failed"], 0)
        self.assertEqual(summary["skipped"], len(EXPECTED_SKIPS))
        self.assertEqual(summary["wallet"], f"lnbits://127.0.0.1:{self.port}")

    def test_balance_is_the_wallets(self):
        expected = devnet_bridge.DevnetBridge(WALLET, self.node_uri).balance_msat()
        self.assertEqual(self.ok("balance")["balance_msat"], expected)
        # The invoice key reads the balance too.
        self.assertEqual(self.ok("balance", wallet=self.uri(key=INVOICE_KEY))["balance_msat"], expected)

    def test_invoices_are_whole_sats(self):
        err = self.fails("invoice", "--amount-msat", "1500")
        self.assertIn("whole satoshis", err)
        made = self.ok("invoice", "--amount-msat", "2000", "--memo", "two sats")
        decoded = json.loads(wallet_cli("decode", made["bolt11"]).stdout)
        self.assertEqual(decoded["amount_msat"], 2000)
        self.assertEqual(decoded["description"], "two sats")
        self.assertIn("amount-less", self.fails("invoice", "--any-amount"))

    def test_description_hash(self):
        digest = "ab" * 32
        made = self.ok("invoice", "--amount-msat", "1000", "--description-hash", digest)
        decoded = json.loads(wallet_cli("decode", made["bolt11"]).stdout)
        self.assertEqual(decoded["description_hash"], digest)

    def test_invoice_key_cannot_pay(self):
        bridge = devnet_bridge.DevnetBridge(WALLET, self.counterparty_uri)
        inv = bridge.invoice(1000, memo="needs admin")
        err = self.fails("pay", inv["bolt11"], wallet=self.uri(key=INVOICE_KEY))
        self.assertIn("HTTP 403", err)
        self.assertIn("admin key", err)
        self.assertFalse(bridge.lookup_invoice(inv["payment_hash"])["settled"])
        # ...but it creates and looks up invoices.
        made = self.ok("invoice", "--amount-msat", "1000", wallet=self.uri(key=INVOICE_KEY))
        self.ok("lookup-invoice", "--payment-hash", made["payment_hash"], wallet=self.uri(key=INVOICE_KEY))

    def test_wrong_key(self):
        err = self.fails("balance", wallet=self.uri(key="0123456789abcdef0123456789abcdef"))
        self.assertIn("refused the key", err)
        self.assertIn("HTTP 401", err)
        self.assertIn("Invoice (or Admin) key required.", err)
        self.assertNotIn("0123456789abcdef0123456789abcdef", err)

    def test_fee_reserve_above_max_fee_is_refused(self):
        bridge = devnet_bridge.DevnetBridge(WALLET, self.counterparty_uri)
        inv = bridge.invoice(1000, memo="fees")
        err = self.fails("pay", inv["bolt11"], "--max-fee-msat", "1999", wallet=self.uri(port=self.reserve_port))
        self.assertIn("reserves up to 2000 msat", err)
        self.assertFalse(bridge.lookup_invoice(inv["payment_hash"])["settled"])
        paid = self.ok("pay", inv["bolt11"], "--max-fee-msat", "2000", wallet=self.uri(port=self.reserve_port))
        self.assertEqual(paid["payment_hash"], inv["payment_hash"])
        self.assertTrue(bridge.lookup_invoice(inv["payment_hash"])["settled"])

    def test_documented_error_bodies(self):
        bridge = devnet_bridge.DevnetBridge(WALLET, self.counterparty_uri)
        inv = bridge.invoice(1000, memo="errors")
        # 520 with "status": "failed" -> a failed payment carrying LNbits' detail.
        devnet_bridge.set_faults(self.port, self.tls, reply={"path": "/api/v1/payments", "status": 520,
                                                              "body": {"detail": "Payment failed: no route",
                                                                       "status": "failed"}})
        self.assertIn("Payment failed: no route", self.fails("pay", inv["bolt11"]))
        # 400 {"detail"}: a refused invoice request.
        devnet_bridge.set_faults(self.port, self.tls, reply={"path": "/api/v1/payments", "status": 400,
                                                              "body": {"detail": "The provided unit is not supported"}})
        self.assertIn("The provided unit is not supported", self.fails("invoice", "--amount-msat", "1000"))
        # 520 on invoice creation: the funding source failed.
        devnet_bridge.set_faults(self.port, self.tls, reply={"path": "/api/v1/payments", "status": 520,
                                                              "body": {"detail": "unexpected backend error.",
                                                                       "status": "pending"}})
        self.assertIn("could not create the invoice", self.fails("invoice", "--amount-msat", "1000"))
        devnet_bridge.set_faults(self.port, self.tls)
        self.assertFalse(bridge.lookup_invoice(inv["payment_hash"])["settled"])
        # 404 on lookup: unknown hash.
        self.assertIn("has no invoice", self.fails("lookup-invoice", "--payment-hash", "cd" * 32))
        self.assertEqual(self.ok("lookup-payment", "--payment-hash", "cd" * 32), {"found": False})

    def test_lies_are_refused(self):
        bridge = devnet_bridge.DevnetBridge(WALLET, self.counterparty_uri)
        inv = bridge.invoice(1000, memo="lie")
        h = inv["payment_hash"]
        lie = {"checking_id": h, "payment_hash": h, "wallet_id": "w", "amount": -1000, "fee": 0, "bolt11": inv["bolt11"],
               "status": "success", "preimage": "00" * 32}
        devnet_bridge.set_faults(self.port, self.tls, reply={"path": "/api/v1/payments", "status": 201, "body": lie})
        self.assertIn("does not hash to the payment hash", self.fails("pay", inv["bolt11"]))
        devnet_bridge.set_faults(self.port, self.tls, reply={"path": "/api/v1/payments", "status": 201,
                                                              "body": {"payment_hash": h, "bolt11": inv["bolt11"]}})
        self.assertIn("amount differs", self.fails("invoice", "--amount-msat", "2000", "--memo", "lie"))
        devnet_bridge.set_faults(self.port, self.tls, reply={"path": "/api/v1/wallet", "status": 200, "raw": "<html>"})
        self.assertIn("not JSON", self.fails("balance"))
        devnet_bridge.set_faults(self.port, self.tls, reply={"path": "/api/v1/wallet", "status": 200,
                                                              "body": {"balance": -5}})
        self.assertIn("negative", self.fails("balance"))
        devnet_bridge.set_faults(self.port, self.tls, reply={"path": "/api/v1/wallet", "status": 500,
                                                              "body": {"detail": "database is locked"}})
        self.assertIn("unexpected HTTP status 500", self.fails("balance"))

    def test_slow_reply_times_out(self):
        devnet_bridge.set_faults(self.port, self.tls, delay_s=4)
        self.assertIn("timed out", self.fails("balance", wallet=self.uri(extra="&timeout=1")))

    def test_oversized_reply_is_refused(self):
        devnet_bridge.set_faults(self.port, self.tls, oversize_bytes=2 << 20)
        self.assertIn("larger than", self.fails("balance"))

    def test_untrusted_certificate_is_refused(self):
        self.assertIn("failed", self.fails("balance", wallet=self.uri(cert=self.other_cert)))
        self.assertIn("failed", self.fails("balance", wallet=f"lnbits://127.0.0.1:{self.port}?key={ADMIN_KEY}"))

    def test_key_file(self):
        path = os.path.join(self.dir, "key")
        with open(path, "w") as f:
            f.write(ADMIN_KEY + "\n")
        self.ok("balance", wallet=f"lnbits://127.0.0.1:{self.port}?key_file={path}&cert={self.cert}")
        with open(path + ".big", "w") as f:
            f.write("k" * 5000)
        self.assertIn("larger than", self.fails("balance", wallet=f"lnbits://127.0.0.1:{self.port}?key_file={path}.big"))

    def test_malformed_uris_are_refused_with_the_reason(self):
        cases = [
            ("lnbits://?key=" + ADMIN_KEY, "host is missing"),
            ("lnbits://127.0.0.1", "key is missing"),
            (f"lnbits://127.0.0.1?key={ADMIN_KEY}&key_file=/x", "either"),
            (f"lnbits://127.0.0.1:65536?key={ADMIN_KEY}", "port"),
            (f"lnbits://127.0.0.1/api?key={ADMIN_KEY}", "path"),
            (f"lnbits://127.0.0.1?api_key={ADMIN_KEY}", "unknown parameter"),
            (f"lnbits://127.0.0.1?key={ADMIN_KEY}&&cert=x", "stray"),
            (f"lnbits://[::1?key={ADMIN_KEY}", "unterminated"),
            (f"lnbits://127.0.0.1?key={ADMIN_KEY}&timeout=3601", "timeout"),
        ]
        for uri, reason in cases:
            with self.subTest(uri=uri):
                proc = wallet_cli("balance", "--wallet", uri)
                self.assertEqual(proc.returncode, 1, proc.stderr)
                self.assertIn(reason, proc.stderr)
                self.assertNotIn(ADMIN_KEY, proc.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
