"""The LND REST backend against lnd_counterpart.py (LND's REST wire format on loopback HTTPS,
backed by a devnet account): the wallet conformance suite, then LND-specific failures.

Run by CTest with PETALSLN_WALLET and PETALSLN_WALLET_CONFORMANCE set. Standard library only.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import devnet_bridge  # noqa: E402

WALLET = os.environ["PETALSLN_WALLET"]
CONFORMANCE = os.environ["PETALSLN_WALLET_CONFORMANCE"]


def cli(*args, timeout=120):
    return subprocess.run([WALLET, *args], capture_output=True, text=True, timeout=timeout)


class LndBackend(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="petalsln-lnd-")
        devnet = os.path.join(cls.dir, "devnet.db")
        cls.node_uri = devnet_bridge.create_account(WALLET, devnet, "lndnode", 2_000)
        cls.counterparty_uri = devnet_bridge.create_account(WALLET, devnet, "counterparty", 2_000)
        cls.cert, cls.key = devnet_bridge.make_tls_cert(cls.dir)
        cls.macaroon = os.path.join(cls.dir, "admin.macaroon")
        cls.proc, ready = devnet_bridge.start_counterpart(
            [sys.executable, os.path.join(HERE, "lnd_counterpart.py"), "--wallet-bin", WALLET, "--devnet-uri",
             cls.node_uri, "--cert", cls.cert, "--key", cls.key, "--macaroon", cls.macaroon])
        cls.port = ready["port"]
        with open(cls.macaroon, "rb") as f:
            cls.macaroon_hex = f.read().hex()
        cls.tls = devnet_bridge.client_tls_context(cls.cert)

    @classmethod
    def tearDownClass(cls):
        devnet_bridge.stop_counterpart(cls.proc)
        shutil.rmtree(cls.dir, ignore_errors=True)

    def tearDown(self):
        devnet_bridge.set_faults(self.port, self.tls)

    def uri(self, macaroon=None, cert=None, extra=""):
        return (f"lnd+rest://127.0.0.1:{self.port}?macaroon={macaroon or self.macaroon}"
                f"&cert={cert or self.cert}{extra}")

    def fails(self, *args, says, rc=1):
        proc = cli(*args)
        self.assertEqual(proc.returncode, rc, proc.stdout + proc.stderr)
        self.assertIn(says, proc.stderr)
        self.assertNotIn(self.macaroon_hex, proc.stderr)
        self.assertNotIn(self.macaroon_hex[:32], proc.stderr)
        return proc.stderr

    def test_a_conformance(self):
        proc = subprocess.run([CONFORMANCE, "--wallet", self.uri(), "--counterparty", self.counterparty_uri,
                               "--secret", self.macaroon_hex], capture_output=True, text=True, timeout=300)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        lines = proc.stdout.strip().splitlines()
        summary = json.loads(lines[-1])
        self.assertEqual(summary["failed"], 0, proc.stdout)
        self.assertEqual(summary["skipped"], 0, proc.stdout)  # LND does description hashes
        self.assertGreaterEqual(summary["passed"], 17)
        self.assertEqual(summary["wallet"], f"lnd+rest://127.0.0.1:{self.port}")

    def test_cli_round_trip(self):
        bal = json.loads(cli("balance", "--wallet", self.uri()).stdout)["balance_msat"]
        self.assertEqual(bal, devnet_bridge.DevnetBridge(WALLET, self.node_uri).balance_msat())
        inv = json.loads(cli("invoice", "--amount-msat", "1234", "--memo", "x", "--wallet", self.uri()).stdout)
        got = json.loads(cli("lookup-invoice", "--payment-hash", inv["payment_hash"], "--wallet", self.uri()).stdout)
        self.assertEqual(got["settled"], False)

    def test_wrong_or_missing_macaroon_is_an_auth_error(self):
        other = os.path.join(self.dir, "other.macaroon")
        with open(other, "wb") as f:
            f.write(os.urandom(96))
        err = self.fails("balance", "--wallet", self.uri(macaroon=other), says="refused the macaroon")
        self.assertIn("verification failed", err)
        empty = os.path.join(self.dir, "empty.macaroon")
        open(empty, "wb").close()
        self.fails("balance", "--wallet", self.uri(macaroon=empty), says="is empty")

    def test_slow_reply_times_out(self):
        devnet_bridge.set_faults(self.port, self.tls, delay_s=3)
        self.fails("balance", "--wallet", self.uri(extra="&timeout=1"), says="timed out")

    def test_oversized_reply_is_refused(self):
        devnet_bridge.set_faults(self.port, self.tls, oversize_bytes=2 << 20)
        self.fails("balance", "--wallet", self.uri(), says="larger than")

    def test_undocumented_reply_is_an_error(self):
        devnet_bridge.set_faults(self.port, self.tls, raw_reply={"status": 502, "body": "<html>Bad Gateway</html>"})
        self.fails("balance", "--wallet", self.uri(), says="502")
        devnet_bridge.set_faults(self.port, self.tls, raw_reply={"status": 200, "body": "not json"})
        self.fails("balance", "--wallet", self.uri(), says="JSON")

    def test_bad_tls_certificate_is_refused(self):
        other_dir = os.path.join(self.dir, "other")
        os.makedirs(other_dir, exist_ok=True)
        other_cert, _ = devnet_bridge.make_tls_cert(other_dir)
        self.fails("balance", "--wallet", self.uri(cert=other_cert), says="failed")
        # Without cert= the system store is used, which does not know the node's certificate.
        self.fails("balance", "--wallet", f"lnd+rest://127.0.0.1:{self.port}?macaroon={self.macaroon}", says="failed")

    def test_unknown_invoice_and_payment(self):
        self.fails("lookup-invoice", "--payment-hash", "00" * 32, "--wallet", self.uri(), says="no invoice")
        out = cli("lookup-payment", "--payment-hash", "00" * 32, "--wallet", self.uri())
        self.assertEqual(json.loads(out.stdout), {"found": False}, out.stderr)

    def test_in_flight_payment_reads_only_the_first_update(self):
        payee = devnet_bridge.DevnetBridge(WALLET, self.counterparty_uri)
        inv = payee.invoice(1_000, "in flight")
        paid = cli("pay", inv["bolt11"], "--wallet", self.uri())
        self.assertEqual(paid.returncode, 0, paid.stderr)
        devnet_bridge.set_faults(self.port, self.tls, track_in_flight=True)
        out = cli("lookup-payment", "--payment-hash", inv["payment_hash"], "--wallet", self.uri(extra="&timeout=20"))
        self.assertEqual(out.returncode, 0, out.stderr)
        got = json.loads(out.stdout)
        self.assertEqual(got["status"], "pending")
        self.assertNotIn("preimage", got)

    def test_malformed_uris_are_refused_with_the_reason(self):
        m, c = self.macaroon, self.cert
        cases = {
            f"lnd+rest://127.0.0.1:{self.port}?cert={c}": "macaroon file is missing",
            f"lnd+rest://127.0.0.1:{self.port}?macaroon={m}&macaroon={m}": "given twice",
            f"lnd+rest://127.0.0.1:{self.port}?macaroon={m}&sekrit=abc": "unknown parameter",
            f"lnd+rest://127.0.0.1:{self.port}?macaroon=/nonexistent/admin.macaroon": "does not exist",
            f"lnd+rest://127.0.0.1:{self.port}?macaroon={m}&cert=/nonexistent.pem": "does not exist",
            f"lnd+rest://127.0.0.1:99999?macaroon={m}": "port",
            f"lnd+rest://127.0.0.1:{self.port}/v1?macaroon={m}": "path",
            f"lnd+rest://user:pw@127.0.0.1?macaroon={m}": "user names",
            f"lnd+rest://127.0.0.1?macaroon={m}&timeout=0": "timeout",
            f"lnd+rest://?macaroon={m}": "host",
        }
        for uri, why in cases.items():
            with self.subTest(uri=uri):
                err = self.fails("balance", "--wallet", uri, says=why)
                self.assertNotIn("abc", err.replace("lnd+rest", ""))

    def test_describe_hides_the_macaroon(self):
        proc = subprocess.run([CONFORMANCE, "--wallet", self.uri(), "--counterparty", self.counterparty_uri,
                               "--secret", self.macaroon], capture_output=True, text=True, timeout=300)
        self.assertNotIn("FAIL describe_has_no_secrets", proc.stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)
