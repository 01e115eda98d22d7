"""petalsln-wallet's wallet commands on a fresh devnet file: create-account, balance, invoice, pay.

Run by CTest with PETALSLN_WALLET (the binary) set. Standard library only.
"""
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest

WALLET = os.environ["PETALSLN_WALLET"]


def run(*args):
    return subprocess.run([WALLET, *args], capture_output=True, timeout=60, text=True)


class WalletCommands(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="petalsln-wallet-")
        self.path = os.path.join(self.dir, "devnet.db")
        self.assertEqual(self.ok("create-account", "alice", "--fund-sats", "1000", wallet="alice"),
                         {"account": "alice", "balance_msat": 1_000_000})
        self.assertEqual(self.ok("create-account", "--fund-sats", "0", wallet="bob"),
                         {"account": "bob", "balance_msat": 0})

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def uri(self, account):
        return f"devnet:{self.path}?account={account}"

    def ok(self, *args, wallet):
        """Runs a command that must succeed and print exactly one JSON object; returns it."""
        proc = run(*args, "--wallet", self.uri(wallet))
        self.assertEqual(proc.returncode, 0, f"{args!r}: {proc.stderr}")
        lines = proc.stdout.strip().splitlines()
        self.assertEqual(len(lines), 1, f"expected one JSON line, got {lines!r}")
        return json.loads(lines[0])

    def fails(self, *args, rc=1, says=""):
        proc = run(*args)
        self.assertEqual(proc.returncode, rc, f"{args!r}: {proc.stdout} {proc.stderr}")
        self.assertEqual(proc.stdout, "")
        self.assertIn(says, proc.stderr)
        return proc.stderr

    def balance(self, account):
        return self.ok("balance", wallet=account)["balance_msat"]

    def invoice(self, account, amount_msat, *extra):
        out = self.ok("invoice", "--amount-msat", str(amount_msat), *extra, wallet=account)
        self.assertEqual(list(out), ["bolt11", "payment_hash"])
        return out

    def decoded(self, bolt11):
        """The invoice as petalsln-wallet decode reads it, or None where decode is not built in."""
        proc = run("decode", bolt11)
        return json.loads(proc.stdout) if proc.returncode == 0 else None

    def test_create_account_and_balance(self):
        self.assertEqual(os.stat(self.path).st_mode & 0o777, 0o600)
        self.assertEqual(self.balance("alice"), 1_000_000)
        self.assertEqual(self.balance("bob"), 0)
        self.assertEqual(self.ok("create-account", "carol", "--fund-sats", "5", wallet="carol")["balance_msat"], 5000)
        bare = f"devnet:{self.path}"
        self.assertEqual(json.loads(run("create-account", "dave", "--fund-sats", "1", "--wallet", bare).stdout),
                         {"account": "dave", "balance_msat": 1000})

    def test_create_account_refusals(self):
        self.fails("create-account", "alice", "--fund-sats", "1", "--wallet", self.uri("alice"), says="already exists")
        self.fails("create-account", "eve", "--fund-sats", "1", "--wallet", self.uri("alice"), rc=2, says="'alice'")
        self.fails("create-account", "eve", "--wallet", self.uri("eve"), rc=2, says="--fund-sats")
        self.fails("create-account", "eve", "--fund-sats", "-1", "--wallet", self.uri("eve"), rc=2)
        self.fails("create-account", "--fund-sats", "1", "--wallet", f"devnet:{self.path}", rc=2, says="NAME")
        self.fails("create-account", "Eve", "--fund-sats", "1", "--wallet", f"devnet:{self.path}", says="a-z")
        self.fails("create-account", "eve", "--fund-sats", "1", "--wallet", "lnd://x", says="devnet")
        self.fails("create-account", "eve", "--fund-sats", "1", rc=2, says="--wallet")
        self.assertEqual(self.balance("alice"), 1_000_000)

    def test_balance_refusals(self):
        self.fails("balance", "--wallet", self.uri("nobody"), says="not found")
        self.fails("balance", rc=2, says="--wallet")
        self.fails("balance", "extra", "--wallet", self.uri("alice"), rc=2)
        self.fails("balance", "--wallet", f"devnet:{self.path}", says="account")
        self.fails("balance", "--wallet", "nosuch:thing", says="unsupported")

    def test_invoice(self):
        out = self.invoice("bob", 12_345, "--memo", "two coffees")
        self.assertTrue(out["bolt11"].startswith("lnbcrt"))
        self.assertEqual(len(out["payment_hash"]), 64)
        d = self.decoded(out["bolt11"])
        if d is not None:
            self.assertEqual(d["network"], "regtest")
            self.assertEqual(d["amount_msat"], 12_345)
            self.assertEqual(d["payment_hash"], out["payment_hash"])
            self.assertEqual(d["description"], "two coffees")
            self.assertTrue(d["signature_valid"])
        dh = "ab" * 32
        hashed = self.invoice("bob", 1, "--description-hash", dh)
        d = self.decoded(hashed["bolt11"])
        if d is not None:
            self.assertEqual(d["description_hash"], dh)
            self.assertNotIn("description", d)

    def test_invoice_refusals(self):
        w = ("--wallet", self.uri("bob"))
        self.fails("invoice", *w, rc=2, says="--amount-msat")
        self.fails("invoice", "--amount-msat", "0", *w, rc=2)
        self.fails("invoice", "--amount-msat", "1", "--memo", "m", "--description-hash", "00" * 32, *w, rc=2,
                   says="not both")
        self.fails("invoice", "--amount-msat", "1", "--description-hash", "xyz", *w, rc=2, says="64 hex")
        self.fails("invoice", "--amount-msat", "1", "--memo", "m" * 700, *w)
        self.fails("invoice", "--amount-msat", "1", "--fund-sats", "3", *w, rc=2, says="--fund-sats")

    def test_pay_moves_money_and_reveals_the_preimage(self):
        inv = self.invoice("bob", 250_000)
        out = self.ok("pay", inv["bolt11"], wallet="alice")
        self.assertEqual(list(out), ["payment_hash", "preimage", "fee_msat"])
        self.assertEqual(out["payment_hash"], inv["payment_hash"])
        self.assertEqual(hashlib.sha256(bytes.fromhex(out["preimage"])).hexdigest(), inv["payment_hash"])
        self.assertEqual(out["fee_msat"], 0)
        self.assertEqual(self.balance("alice"), 750_000)
        self.assertEqual(self.balance("bob"), 250_000)
        second = self.invoice("bob", 1_000)
        self.ok("pay", "lightning:" + second["bolt11"].upper(), wallet="alice")
        self.assertEqual(self.balance("bob"), 251_000)

    def test_pay_refusals_leave_balances_alone(self):
        inv = self.invoice("bob", 1_000)
        self.ok("pay", inv["bolt11"], wallet="alice")
        self.fails("pay", inv["bolt11"], "--wallet", self.uri("alice"), says="already paid")
        big = self.invoice("bob", 2_000_000)
        self.fails("pay", big["bolt11"], "--wallet", self.uri("alice"), says="insufficient balance")
        own = self.invoice("alice", 10)
        self.fails("pay", own["bolt11"], "--wallet", self.uri("alice"), says="its own invoice")
        self.fails("pay", "lnbcrt1garbage", "--wallet", self.uri("alice"), says="error")
        self.fails("pay", "--wallet", self.uri("alice"), rc=2)
        self.fails("pay", inv["bolt11"], inv["bolt11"], "--wallet", self.uri("alice"), rc=2)
        self.fails("pay", big["bolt11"], "--amount-msat", "5", "--wallet", self.uri("alice"), says="msat")
        self.assertEqual(self.balance("alice"), 999_000)
        self.assertEqual(self.balance("bob"), 1_000)

    def test_invoice_any_amount_and_expiry(self):
        out = self.ok("invoice", "--any-amount", "--memo", "tip", "--expiry-s", "120", wallet="bob")
        d = self.decoded(out["bolt11"])
        if d is not None:
            self.assertIsNone(d["amount_msat"])
            self.assertEqual(d["expiry"], 120)
            self.assertEqual(d["description"], "tip")
        w = ("--wallet", self.uri("bob"))
        self.fails("invoice", "--any-amount", "--amount-msat", "5", *w, rc=2, says="not both")
        self.fails("invoice", "--amount-msat", "5", "--expiry-s", "0", *w, rc=2, says="--expiry-s")
        self.fails("invoice", "--amount-msat", "5", "--expiry-s", "x", *w, rc=2, says="--expiry-s")
        self.fails("invoice", "--any-amount=1", *w, rc=2, says="takes no value")
        # An amount-less invoice is paid with the amount the payer names, and only so.
        self.fails("pay", out["bolt11"], "--wallet", self.uri("alice"), says="amount")
        self.ok("pay", out["bolt11"], "--amount-msat", "777", wallet="alice")
        self.assertEqual(self.balance("bob"), 777)
        self.assertEqual(self.lookup_invoice("bob", out["payment_hash"])["amount_paid_msat"], 777)

    def lookup_invoice(self, account, payment_hash):
        out = self.ok("lookup-invoice", "--payment-hash", payment_hash, wallet=account)
        self.assertEqual(list(out), ["payment_hash", "settled", "expired", "amount_paid_msat", "settled_at"])
        self.assertEqual(out["payment_hash"], payment_hash)
        return out

    def lookup_payment(self, account, payment_hash):
        return self.ok("lookup-payment", "--payment-hash", payment_hash, wallet=account)

    def test_lookup_invoice_before_and_after_payment(self):
        inv = self.invoice("bob", 4_000, "--memo", "lookup")
        before = self.lookup_invoice("bob", inv["payment_hash"])
        self.assertEqual(before, {"payment_hash": inv["payment_hash"], "settled": False, "expired": False,
                                  "amount_paid_msat": 0, "settled_at": 0})
        t0 = int(time.time())
        self.ok("pay", inv["bolt11"], wallet="alice")
        after = self.lookup_invoice("bob", inv["payment_hash"])
        self.assertTrue(after["settled"])
        self.assertFalse(after["expired"])
        self.assertEqual(after["amount_paid_msat"], 4_000)
        self.assertGreaterEqual(after["settled_at"], t0 - 1)
        self.assertLessEqual(after["settled_at"], int(time.time()) + 1)

    def test_lookup_invoice_expired(self):
        inv = self.invoice("bob", 10, "--expiry-s", "1")
        time.sleep(2.2)  # waits out the one-second expiry; nothing is timed
        got = self.lookup_invoice("bob", inv["payment_hash"])
        self.assertTrue(got["expired"])
        self.assertFalse(got["settled"])
        self.fails("pay", inv["bolt11"], "--wallet", self.uri("alice"), says="expired")

    def test_lookup_invoice_refusals(self):
        inv = self.invoice("bob", 10)
        # Only the issuing account knows its invoices.
        self.fails("lookup-invoice", "--payment-hash", inv["payment_hash"], "--wallet", self.uri("alice"),
                   says="issued no invoice")
        self.fails("lookup-invoice", "--payment-hash", "00" * 32, "--wallet", self.uri("bob"), says="issued no invoice")
        w = ("--wallet", self.uri("bob"))
        self.fails("lookup-invoice", *w, rc=2, says="--payment-hash")
        self.fails("lookup-invoice", "--payment-hash", "ab" * 31, *w, rc=2, says="--payment-hash")
        self.fails("lookup-invoice", "--payment-hash", "zz" * 32, *w, rc=2, says="--payment-hash")
        self.fails("lookup-invoice", "--payment-hash", inv["payment_hash"], "extra", *w, rc=2)
        self.fails("lookup-invoice", "--payment-hash", inv["payment_hash"], rc=2, says="--wallet")
        self.fails("lookup-invoice", "--payment-hash", inv["payment_hash"], "--amount-msat", "1", *w, rc=2)

    def test_lookup_payment_succeeded(self):
        inv = self.invoice("bob", 6_000)
        paid = self.ok("pay", inv["bolt11"], "--max-fee-msat", "10", wallet="alice")
        got = self.lookup_payment("alice", inv["payment_hash"])
        self.assertEqual(list(got), ["found", "payment_hash", "status", "preimage", "amount_msat", "fee_msat",
                                     "failure_reason"])
        self.assertEqual(got, {"found": True, "payment_hash": inv["payment_hash"], "status": "succeeded",
                               "preimage": paid["preimage"], "amount_msat": 6_000, "fee_msat": 0,
                               "failure_reason": ""})
        self.assertEqual(hashlib.sha256(bytes.fromhex(got["preimage"])).hexdigest(), inv["payment_hash"])
        # The payee did not make that payment.
        self.assertEqual(self.lookup_payment("bob", inv["payment_hash"]), {"found": False})

    def test_lookup_payment_failed_has_reason_and_no_preimage(self):
        big = self.invoice("bob", 5_000_000)
        self.fails("pay", big["bolt11"], "--wallet", self.uri("alice"), says="insufficient balance")
        got = self.lookup_payment("alice", big["payment_hash"])
        self.assertTrue(got["found"])
        self.assertEqual(got["status"], "failed")
        self.assertNotIn("preimage", got)
        self.assertIn("insufficient balance", got["failure_reason"])
        self.assertEqual(self.balance("alice"), 1_000_000)

    def test_lookup_payment_unknown_and_refusals(self):
        self.assertEqual(self.lookup_payment("alice", "11" * 32), {"found": False})
        w = ("--wallet", self.uri("alice"))
        self.fails("lookup-payment", *w, rc=2, says="--payment-hash")
        self.fails("lookup-payment", "--payment-hash", "11" * 33, *w, rc=2, says="--payment-hash")
        self.fails("lookup-payment", "--payment-hash", "11" * 32, "--wallet", self.uri("nobody"), says="not found")

    def test_pay_max_fee_option(self):
        inv = self.invoice("bob", 100)
        w = ("--wallet", self.uri("alice"))
        self.fails("pay", inv["bolt11"], "--max-fee-msat", "-1", *w, rc=2, says="--max-fee-msat")
        self.fails("pay", inv["bolt11"], "--max-fee-msat", "lots", *w, rc=2, says="--max-fee-msat")
        self.assertEqual(self.balance("alice"), 1_000_000)
        self.assertEqual(self.ok("pay", inv["bolt11"], "--max-fee-msat", "0", wallet="alice")["fee_msat"], 0)

    def test_help_lists_the_lookups(self):
        proc = run("--help")
        self.assertEqual(proc.returncode, 0)
        for word in ["lookup-invoice", "lookup-payment", "--payment-hash", "--max-fee-msat", "--any-amount",
                     "--expiry-s", "amount_paid_msat", "failure_reason"]:
            self.assertIn(word, proc.stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)
