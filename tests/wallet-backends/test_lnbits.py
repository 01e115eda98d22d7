"""The LNbits backend (lnbits://) against a loopback LNbits counterpart.

The counterpart (lnbits_counterpart.py) serves real HTTPS with a certificate made here and is
backed by a devnet account, so the conformance suite's payments really move money. The suite
and the failures every backend shares are in backend_test_support.py; here: the documented
error bodies and statuses, an invoice key used to pay, the fee reserve against max_fee_msat,
whole-sat amounts, replies that lie, the key file, LNbits' malformed URIs.

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
ADMIN_KEY = "4f2a9c1e8b7d46a0b3c5d9e1f7a2b6c8"
INVOICE_KEY = "9d8c7b6a5f4e43d2c1b0a9f8e7d6c5b4"
WRONG_KEY = "0123456789abcdef0123456789abcdef"


class LnbitsBackend(support.BackendTest):
    SCHEME = "lnbits"
    NODE_ACCOUNT = "lnbits-wallet"
    CREDENTIAL = "API key"
    REFUSAL_DETAIL = "Invoice (or Admin) key required."
    # What LNbits cannot do; the suite must skip these, with LNbits' reason, never pass them.
    EXPECTED_SKIPS = {
        "invoice_amountless": "amount-less",
        "counterparty_pays_amountless_invoice": "amount-less",
        "wallet_pays_amountless_invoice_with_amount": "amount-less",
    }

    @classmethod
    def start_counterparts(cls):
        cls.port = cls.start_lnbits(0)
        # A second server whose LNbits reserves 2 sat for routing fees.
        cls.reserve_port = cls.start_lnbits(2_000)

    @classmethod
    def start_lnbits(cls, reserve_fee_msat):
        return cls.start_counterpart("lnbits_counterpart.py", "--admin-key", ADMIN_KEY, "--invoice-key", INVOICE_KEY,
                                     "--reserve-fee-msat", str(reserve_fee_msat))

    def credential_query(self, key=ADMIN_KEY):
        return f"key={key}"

    def secrets(self):
        return [ADMIN_KEY, INVOICE_KEY, WRONG_KEY]

    def wrong_credential_query(self):
        return {"key": WRONG_KEY}

    def backend_malformed_uris(self):
        return [
            ("lnbits://127.0.0.1", "key is missing"),
            (f"lnbits://127.0.0.1?key={ADMIN_KEY}&key_file=/x", "either"),
            (f"lnbits://127.0.0.1?api_key={ADMIN_KEY}", "unknown parameter"),
        ]

    def test_balance_is_the_wallets(self):
        expected = devnet_bridge.DevnetBridge(WALLET, self.node_uri).balance_msat()
        self.assertEqual(self.ok("balance")["balance_msat"], expected)
        # The invoice key reads the balance too.
        self.assertEqual(self.ok("balance", wallet=self.uri(key=INVOICE_KEY))["balance_msat"], expected)

    def test_invoices_are_whole_sats(self):
        err = self.fails("invoice", "--amount-msat", "1500")
        self.assertIn("whole satoshis", err)
        made = self.ok("invoice", "--amount-msat", "2000", "--memo", "two sats")
        decoded = json.loads(support.wallet_cli("decode", made["bolt11"]).stdout)
        self.assertEqual(decoded["amount_msat"], 2000)
        self.assertEqual(decoded["description"], "two sats")
        self.assertIn("amount-less", self.fails("invoice", "--any-amount"))

    def test_description_hash(self):
        digest = "ab" * 32
        made = self.ok("invoice", "--amount-msat", "1000", "--description-hash", digest)
        decoded = json.loads(support.wallet_cli("decode", made["bolt11"]).stdout)
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

    def test_key_file(self):
        path = os.path.join(self.dir, "key")
        with open(path, "w") as f:
            f.write(ADMIN_KEY + "\n")
        self.ok("balance", wallet=f"lnbits://127.0.0.1:{self.port}?key_file={path}&cert={self.cert}")
        with open(path + ".big", "w") as f:
            f.write("k" * 5000)
        self.assertIn("larger than", self.fails("balance", wallet=f"lnbits://127.0.0.1:{self.port}?key_file={path}.big"))


if __name__ == "__main__":
    unittest.main(verbosity=2)
