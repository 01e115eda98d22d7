"""The LND REST backend against lnd_counterpart.py (LND's REST wire format on loopback HTTPS,
backed by a devnet account). The conformance suite and the failures every backend shares are
in backend_test_support.py; here: LND's macaroon file, the CLI round trip, unknown invoices
and payments, an in-flight payment's open stream, LND's malformed URIs.

Run by CTest with PETALSLN_WALLET and PETALSLN_WALLET_CONFORMANCE set. Standard library only.
"""
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import backend_test_support as support  # noqa: E402
import devnet_bridge  # noqa: E402

WALLET = support.WALLET


class LndBackend(support.BackendTest):
    SCHEME = "lnd+rest"
    NODE_ACCOUNT = "lndnode"
    CREDENTIAL = "macaroon"
    REFUSAL_DETAIL = "verification failed"
    EXPECTED_SKIPS = {}  # LND does description hashes and amount-less invoices

    @classmethod
    def start_counterparts(cls):
        # The counterpart writes a fresh random macaroon to this file, as LND writes its own.
        cls.macaroon = os.path.join(cls.dir, "admin.macaroon")
        cls.port = cls.start_counterpart("lnd_counterpart.py", "--macaroon", cls.macaroon)
        with open(cls.macaroon, "rb") as f:
            cls.macaroon_hex = f.read().hex()
        cls.wrong_macaroon = os.path.join(cls.dir, "other.macaroon")
        with open(cls.wrong_macaroon, "wb") as f:
            f.write(os.urandom(96))

    def credential_query(self, macaroon=None):
        return f"macaroon={macaroon or self.macaroon}"

    def secrets(self):
        return [self.macaroon_hex, self.macaroon_hex[:32]]

    def conformance_secrets(self):
        # describe() shows neither the macaroon nor where it is kept.
        return self.secrets() + [self.macaroon]

    def wrong_credential_query(self):
        return {"macaroon": self.wrong_macaroon}

    def backend_malformed_uris(self):
        m = self.macaroon
        return [
            (f"lnd+rest://127.0.0.1:{self.port}?cert={self.cert}", "macaroon file is missing"),
            (f"lnd+rest://127.0.0.1:{self.port}?macaroon={m}&macaroon={m}", "given twice"),
            (f"lnd+rest://127.0.0.1:{self.port}?macaroon=/nonexistent/admin.macaroon", "does not exist"),
            (f"lnd+rest://127.0.0.1:{self.port}?macaroon={self.dir}", "not a regular file"),
        ]

    def test_empty_macaroon_file(self):
        empty = os.path.join(self.dir, "empty.macaroon")
        open(empty, "wb").close()
        self.assertIn("is empty", self.fails("balance", wallet=self.uri(macaroon=empty)))

    def test_cli_round_trip(self):
        bal = self.ok("balance")["balance_msat"]
        self.assertEqual(bal, devnet_bridge.DevnetBridge(WALLET, self.node_uri).balance_msat())
        inv = self.ok("invoice", "--amount-msat", "1234", "--memo", "x")
        got = self.ok("lookup-invoice", "--payment-hash", inv["payment_hash"])
        self.assertEqual(got["settled"], False)

    def test_reply_that_is_not_json(self):
        devnet_bridge.set_faults(self.port, self.tls, raw_reply={"status": 200, "body": "not json"})
        self.assertIn("JSON", self.fails("balance"))

    def test_unknown_invoice_and_payment(self):
        self.assertIn("no invoice", self.fails("lookup-invoice", "--payment-hash", "00" * 32))
        self.assertEqual(self.ok("lookup-payment", "--payment-hash", "00" * 32), {"found": False})

    def test_in_flight_payment_reads_only_the_first_update(self):
        payee = devnet_bridge.DevnetBridge(WALLET, self.counterparty_uri)
        inv = payee.invoice(1_000, "in flight")
        self.ok("pay", inv["bolt11"])
        devnet_bridge.set_faults(self.port, self.tls, track_in_flight=True)
        got = self.ok("lookup-payment", "--payment-hash", inv["payment_hash"], wallet=self.uri(extra="&timeout=20"))
        self.assertEqual(got["status"], "pending")
        self.assertNotIn("preimage", got)


if __name__ == "__main__":
    unittest.main(verbosity=2)
