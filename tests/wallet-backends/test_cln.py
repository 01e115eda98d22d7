"""The Core Lightning REST backend (cln+rest://) against a loopback clnrest counterpart.

The counterpart (cln_counterpart.py) serves real HTTPS with a certificate made here and is
backed by a devnet account, so the conformance suite's payments really move money. The suite
and the failures every backend shares are in backend_test_support.py; here: the documented
error codes and statuses, replies that lie, the rune file, CLN's malformed URIs.

Run by CTest with PETALSLN_WALLET and PETALSLN_WALLET_CONFORMANCE set. Standard library only.
"""
import hashlib
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import backend_test_support as support  # noqa: E402
import devnet_bridge  # noqa: E402

WALLET = support.WALLET
# A realistic-looking rune (base64url with padding, as Core Lightning writes them).
RUNE = "tU-RLjMiDpY2U0o3W1oFowar36RFGpWloPbW9-RuZdo9MyZpZD0wMjRiOWExZmE4ZTAwNmYxZTM5Mzdm=="


class ClnRestBackend(support.BackendTest):
    SCHEME = "cln+rest"
    NODE_ACCOUNT = "cln-node"
    CREDENTIAL = "rune"
    REFUSAL_DETAIL = "Not derived from master"
    # Core Lightning can only hash a description it is given: that check is skipped, saying why.
    EXPECTED_SKIPS = {"invoice_description_hash": "deschashonly"}

    @classmethod
    def start_counterparts(cls):
        cls.port = cls.start_counterpart("cln_counterpart.py", "--rune", RUNE)

    def credential_query(self, rune=RUNE):
        return f"rune={rune}"

    def secrets(self):
        return [RUNE]

    def wrong_credential_query(self):
        return {"rune": "bm90LXRoZS1ydW5l"}

    def backend_malformed_uris(self):
        return [
            ("cln+rest://127.0.0.1:3010", "rune is missing"),
            (f"cln+rest://127.0.0.1?rune={RUNE}&rune={RUNE}", "twice"),
            (f"cln+rest://127.0.0.1?rune={RUNE}&rune_file=/x", "either"),
            ("cln+rest://127.0.0.1?rune=", "no value"),
            (f"cln+rest://127.0.0.1?rune={RUNE}&timeout=abc", "timeout"),
            (f"cln+rest://127.0.0.1?rune=%zz{RUNE}", "%-escape"),
            (f"cln+rest://127.0.0.1?rune={RUNE}%0a", "control character"),
            (f"cln+rest://bad host?rune={RUNE}", "host"),
        ]

    def test_refused_credential_hides_it(self):
        err = self.fails("balance", wallet=self.uri(rune="bm90LXRoZS1ydW5l"))
        self.assertIn("HTTP 401", err)
        self.assertNotIn("bm90LXRoZS1ydW5l", err)

    def test_balance_counts_only_normal_channels(self):
        expected = devnet_bridge.DevnetBridge(WALLET, self.node_uri).balance_msat()
        self.assertEqual(self.ok("balance")["balance_msat"], expected)

    def test_description_hash_with_its_description(self):
        memo = "petalsln: LNURL metadata"
        digest = hashlib.sha256(memo.encode()).hexdigest()
        # The CLI sends memo or description hash, not both: without the description the
        # backend must refuse, naming deschashonly.
        err = self.fails("invoice", "--amount-msat", "1000", "--description-hash", digest)
        self.assertIn("deschashonly", err)

    def test_documented_pay_errors_become_failed_results(self):
        bridge = devnet_bridge.DevnetBridge(WALLET, self.counterparty_uri)
        # 207: an invoice expired before it was paid.
        expiring = bridge.invoice(1000, memo="soon gone", expiry_s=1)
        time.sleep(2.2)
        err = self.fails("pay", expiring["bolt11"], "--max-fee-msat", "0")
        self.assertIn("code 207", err)
        self.assertIn("Invoice expired", err)
        # 205: more than the node can send.
        big = bridge.invoice(500_000_000, memo="too much")
        err = self.fails("pay", big["bolt11"], "--max-fee-msat", "0")
        self.assertIn("code 205", err)
        # Injected: 206 (route too expensive) and 210 (timed out), as the API documents them.
        inv = bridge.invoice(1000, memo="injected")
        for code, message in ((206, "Route wanted fee of 2000msat"), (210, "Timed out after 60 seconds"),
                              (-1, "Catchall nonspecific error")):
            devnet_bridge.set_faults(self.port, self.tls,
                                     reply={"method": "pay", "status": 500, "body": {"code": code, "message": message}})
            err = self.fails("pay", inv["bolt11"], "--max-fee-msat", "0")
            self.assertIn(f"code {code}", err)
            self.assertIn(message, err)
        devnet_bridge.set_faults(self.port, self.tls)
        self.assertFalse(bridge.lookup_invoice(inv["payment_hash"])["settled"])

    def test_other_method_errors_are_exceptions(self):
        # invoice refused with invalid params -> invalid_argument; other RPC errors -> io.
        devnet_bridge.set_faults(self.port, self.tls, reply={"method": "invoice", "status": 500,
                                                              "body": {"code": 900, "message": "Duplicate label 'x'"}})
        err = self.fails("invoice", "--amount-msat", "1000")
        self.assertIn("code 900", err)
        self.assertIn("Duplicate label", err)

    def test_unknown_method_404(self):
        devnet_bridge.set_faults(self.port, self.tls, reply={"method": "listfunds", "status": 404,
                                                              "body": {"code": -32601, "message": "Unknown command"}})
        self.assertIn("no such method", self.fails("balance"))

    def test_lies_are_refused(self):
        bridge = devnet_bridge.DevnetBridge(WALLET, self.counterparty_uri)
        inv = bridge.invoice(1000, memo="lie")
        h = inv["payment_hash"]
        lie = {"destination": "02" + "11" * 32, "payment_hash": h, "created_at": 1, "parts": 1, "amount_msat": 1000,
               "amount_sent_msat": 1000, "payment_preimage": "00" * 32, "status": "complete"}
        devnet_bridge.set_faults(self.port, self.tls, reply={"method": "pay", "status": 201, "body": lie})
        self.assertIn("does not hash to the payment hash", self.fails("pay", inv["bolt11"]))
        other = dict(lie, payment_hash="ab" * 32)
        devnet_bridge.set_faults(self.port, self.tls, reply={"method": "pay", "status": 201, "body": other})
        self.assertIn("another payment hash", self.fails("pay", inv["bolt11"]))
        # A created invoice that is not the one asked for.
        devnet_bridge.set_faults(self.port, self.tls, reply={"method": "invoice", "status": 201,
                                                              "body": {"bolt11": inv["bolt11"], "payment_hash": h}})
        self.assertIn("amount differs", self.fails("invoice", "--amount-msat", "2000", "--memo", "lie"))
        # Not JSON, and JSON of the wrong shape.
        devnet_bridge.set_faults(self.port, self.tls, reply={"method": "listfunds", "status": 201, "raw": "<html>"})
        self.assertIn("not JSON", self.fails("balance"))
        devnet_bridge.set_faults(self.port, self.tls, reply={"method": "listfunds", "status": 201,
                                                              "body": {"channels": [{"state": "CHANNELD_NORMAL",
                                                                                     "our_amount_msat": "12msat"}]}})
        self.assertIn("our_amount_msat", self.fails("balance"))
        devnet_bridge.set_faults(self.port, self.tls, reply={"method": "listinvoices", "status": 201,
                                                              "body": {"invoices": [{"payment_hash": h,
                                                                                     "status": "weird"}]}})
        self.assertIn("unknown invoice status", self.fails("lookup-invoice", "--payment-hash", h))
        devnet_bridge.set_faults(self.port, self.tls, reply={"method": "listpays", "status": 201,
                                                              "body": {"pays": [{"payment_hash": h}] * 1001}})
        self.assertIn("more than 1000", self.fails("lookup-payment", "--payment-hash", h))

    def test_rune_file(self):
        path = os.path.join(self.dir, "rune")
        with open(path, "w") as f:
            f.write(RUNE + "\n")
        self.ok("balance", wallet=f"cln+rest://127.0.0.1:{self.port}?rune_file={path}&cert={self.cert}")
        err = self.fails("balance", wallet=f"cln+rest://127.0.0.1:{self.port}?rune_file={path}.missing")
        self.assertIn("rune file", err)


if __name__ == "__main__":
    unittest.main(verbosity=2)
