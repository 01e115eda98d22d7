"""The wallet conformance suite against the devnet wallet (the baseline every real backend is
held to), and proof that the suite fails when a wallet does not behave.

Run by CTest with PETALSLN_WALLET and PETALSLN_WALLET_CONFORMANCE set. Standard library only.
"""
import json
import os
import shutil
import subprocess
import tempfile
import unittest

WALLET = os.environ["PETALSLN_WALLET"]
CONFORMANCE = os.environ["PETALSLN_WALLET_CONFORMANCE"]

CHECKS = [
    "balance_readable", "invoice_fixed_amount_with_memo", "invoice_amountless", "invoice_description_hash",
    "invoice_refuses_zero_amount", "lookup_invoice_unpaid", "counterparty_pays_invoice",
    "counterparty_pays_amountless_invoice", "wallet_pays_invoice", "wallet_pays_amountless_invoice_with_amount",
    "garbage_bolt11_is_invalid_format", "lookup_unknown_invoice_is_not_found", "lookup_unknown_payment_is_nullopt",
    "describe_has_no_secrets", "pay_same_invoice_again_fails", "insufficient_balance_fails",
    "expired_invoice_fails",
]


def conformance(*args):
    proc = subprocess.run([CONFORMANCE, *args], capture_output=True, text=True, timeout=240)
    lines = proc.stdout.strip().splitlines()
    results = {}
    for line in lines[:-1]:
        verdict, rest = line.split(" ", 1)
        name = rest.split(":", 1)[0]
        results[name] = (verdict, rest)
    summary = json.loads(lines[-1]) if lines else None
    return proc, results, summary


class DevnetConformance(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="petalsln-conformance-")
        self.path = os.path.join(self.dir, "devnet.db")
        for name, sats in (("wallet", 1_000), ("counterparty", 1_000), ("poor", 10)):
            subprocess.run([WALLET, "create-account", name, "--fund-sats", str(sats), "--wallet",
                            f"devnet:{self.path}"], check=True, capture_output=True, timeout=60)

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def uri(self, account):
        return f"devnet:{self.path}?account={account}"

    def test_devnet_passes_every_check(self):
        proc, results, summary = conformance("--wallet", self.uri("wallet"), "--counterparty", self.uri("counterparty"),
                                             "--secret", "not-in-any-devnet-uri")
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.assertEqual(sorted(results), sorted(CHECKS))
        for name, (verdict, line) in results.items():
            self.assertEqual(verdict, "PASS", line)
        self.assertEqual(summary, {"passed": len(CHECKS), "failed": 0, "skipped": 0,
                                   "wallet": self.uri("wallet")})

    def test_the_suite_fails_a_wallet_that_does_not_behave(self):
        # Wallet and counterparty the same account: every payment between them is refused, so
        # the payment checks must fail (and the program exit 1), not pass vacuously.
        proc, results, summary = conformance("--wallet", self.uri("wallet"), "--counterparty", self.uri("wallet"))
        self.assertEqual(proc.returncode, 1, proc.stdout + proc.stderr)
        for name in ("counterparty_pays_invoice", "wallet_pays_invoice", "pay_same_invoice_again_fails"):
            self.assertEqual(results[name][0], "FAIL", results[name][1])
        self.assertGreater(summary["failed"], 0)

    def test_a_secret_in_describe_fails(self):
        proc, results, _ = conformance("--wallet", self.uri("wallet"), "--counterparty", self.uri("counterparty"),
                                       "--secret=account=wallet")
        self.assertEqual(proc.returncode, 1)
        self.assertEqual(results["describe_has_no_secrets"][0], "FAIL")

    def test_too_little_money_fails_up_front(self):
        proc, results, _ = conformance("--wallet", self.uri("poor"), "--counterparty", self.uri("counterparty"))
        self.assertEqual(proc.returncode, 1)
        self.assertEqual(results["balance_readable"][0], "FAIL")
        self.assertIn("needs", results["balance_readable"][1])

    def test_usage_errors(self):
        for args in ([], ["--wallet", self.uri("wallet")], ["--counterparty", self.uri("counterparty")],
                     ["--wallet", self.uri("wallet"), "--counterparty", "lnd+rest://x"],
                     ["--wallet", self.uri("wallet"), "--counterparty", self.uri("counterparty"), "extra"],
                     ["--wallet", self.uri("wallet"), "--counterparty", self.uri("counterparty"), "--secret"],
                     ["--bogus"]):
            with self.subTest(args=args):
                proc = subprocess.run([CONFORMANCE, *args], capture_output=True, text=True, timeout=60)
                self.assertEqual(proc.returncode, 2, proc.stderr)
                self.assertIn("usage:", proc.stderr)

    def test_unopenable_wallet_is_an_error(self):
        proc = subprocess.run([CONFORMANCE, "--wallet", self.uri("nobody"), "--counterparty", self.uri("counterparty")],
                              capture_output=True, text=True, timeout=60)
        self.assertEqual(proc.returncode, 1)
        self.assertIn("nobody", proc.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
