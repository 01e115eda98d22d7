"""The devnet wallet under concurrent processes: one SQLite file, many payers at once.

Every race starts workers (devnet-stress) that open their wallets, say "ready", and wait for a
go-file; the test then creates it so that all of them pay at the same moment. Afterwards the
books must balance: no invoice paid twice, no account overdrawn, no msat created or lost, and
every revealed preimage hashes to its payment hash.

Run by CTest with PETALSLN_DEVNET_STRESS (the worker binary) set. Standard library only.
"""
import collections
import hashlib
import json
import os
import random
import shutil
import subprocess
import tempfile
import unittest

STRESS = os.environ["PETALSLN_DEVNET_STRESS"]
WORKERS = 8
ALREADY_PAID = "devnet: invoice already paid"


def run(*args):
    proc = subprocess.run([STRESS, *args], capture_output=True, timeout=120)
    if proc.returncode != 0:
        raise AssertionError(f"devnet-stress {args!r} exited {proc.returncode}: {proc.stderr.decode()[-2000:]}")
    return json.loads(proc.stdout)


class DevnetRaces(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="petalsln-devnet-")
        self.path = os.path.join(self.dir, "devnet.db")
        self.go = os.path.join(self.dir, "go")
        self.round = 0

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def uri(self, account):
        return f"devnet:{self.path}?account={account}"

    def account(self, name, fund_msat):
        out = run("create-account", self.path, name, str(fund_msat))
        self.assertTrue(out["ok"], out)

    def invoices(self, payee, count, amount_msat):
        return run("invoices", self.uri(payee), str(count), str(amount_msat))["invoices"]

    def balance(self, account):
        return run("balance", self.uri(account))["balance_msat"]

    def race(self, commands):
        """Starts one worker per argument list, releases them together, returns their JSON."""
        self.round += 1
        go = f"{self.go}-{self.round}"
        procs = [subprocess.Popen([STRESS, *args, go], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                 for args in commands]
        try:
            for p in procs:
                self.assertEqual(p.stdout.readline().strip(), b"ready")
            open(go, "w").close()
            results = []
            for p in procs:
                out, err = p.communicate(timeout=300)
                self.assertEqual(p.returncode, 0, err.decode())
                results.append(json.loads(out))
            return results
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()

    def pay_race(self, payers, invoice_lists):
        commands = []
        for k, (payer, bolt11s) in enumerate(zip(payers, invoice_lists)):
            listing = os.path.join(self.dir, f"invoices-{self.round + 1}-{k}.txt")
            with open(listing, "w") as f:
                f.write("\n".join(bolt11s) + "\n")
            commands.append(["pay", self.uri(payer), listing])
        return self.race(commands)

    def check_paid(self, results, expected_count):
        """Each hash succeeded at most once, preimages hash right; returns the paid hashes."""
        paid = [p for r in results for p in r["paid"]]
        hashes = [p["payment_hash"] for p in paid]
        self.assertEqual(len(hashes), len(set(hashes)), "an invoice was paid twice")
        self.assertEqual(len(hashes), expected_count)
        for p in paid:
            self.assertEqual(hashlib.sha256(bytes.fromhex(p["preimage"])).hexdigest(), p["payment_hash"])
        return set(hashes)

    def test_everyone_pays_the_same_invoice_once(self):
        payers = [f"payer{k}" for k in range(WORKERS)]
        for name in payers:
            self.account(name, 100_000)
        self.account("shop", 0)
        for rounds in range(1, 4):
            [bolt11] = self.invoices("shop", 1, 1_000)
            results = self.pay_race(payers, [[bolt11]] * WORKERS)
            self.check_paid(results, 1)
            failures = collections.Counter()
            for r in results:
                failures.update(r["failures"])
            self.assertEqual(failures, {ALREADY_PAID: WORKERS - 1})
            self.assertEqual(self.balance("shop"), rounds * 1_000)
        self.assertEqual(sum(self.balance(n) for n in payers), WORKERS * 100_000 - 3 * 1_000)

    def test_one_payer_with_funds_for_n_races_for_3n(self):
        n, amount = 30, 2_500
        self.account("spender", n * amount)
        payees = ["shop0", "shop1", "shop2"]
        for name in payees:
            self.account(name, 0)
        bolt11s = [b for name in payees for b in self.invoices(name, n, amount)]
        orders = [random.Random(seed).sample(bolt11s, len(bolt11s)) for seed in range(6)]
        results = self.pay_race(["spender"] * 6, orders)
        self.check_paid(results, n)
        for r in results:
            for reason in r["failures"]:
                self.assertTrue(reason == ALREADY_PAID or reason.startswith("devnet: insufficient balance"), reason)
            self.assertGreaterEqual(r["balance_msat"], 0)
        self.assertEqual(self.balance("spender"), 0)
        self.assertEqual(sum(self.balance(p) for p in payees), n * amount)

    def test_many_payers_many_invoices_conserve_every_msat(self):
        payers = [f"payer{k}" for k in range(WORKERS)]
        funds = {name: 10_000 * (k + 1) for k, name in enumerate(payers)}
        for name, fund in funds.items():
            self.account(name, fund)
        self.account("shop", 0)
        bolt11s = self.invoices("shop", 40, 3_000)
        orders = [random.Random(100 + k).sample(bolt11s, len(bolt11s)) for k in range(WORKERS)]
        results = self.pay_race(payers, orders)
        paid_by = {payer: sum(p["amount_msat"] for p in r["paid"]) for payer, r in zip(payers, results)}
        total_paid = sum(paid_by.values())
        self.check_paid(results, total_paid // 3_000)
        for payer, fund in funds.items():
            self.assertEqual(self.balance(payer), fund - paid_by[payer])
        self.assertEqual(self.balance("shop"), total_paid)
        self.assertEqual(total_paid, 40 * 3_000)  # together they could afford every invoice

    def test_accounts_created_at_once_on_a_fresh_file(self):
        results = self.race([["create-account", self.path, f"new{k}", "1000"] for k in range(WORKERS)])
        self.assertTrue(all(r["ok"] for r in results), results)
        results = self.race([["create-account", self.path, "same", "1000"] for _ in range(WORKERS)])
        self.assertEqual(sum(r["ok"] for r in results), 1, results)
        self.assertTrue(all("already exists" in r["error"] for r in results if not r["ok"]))
        self.assertEqual(os.stat(self.path).st_mode & 0o777, 0o600)
        self.assertEqual(sum(self.balance(f"new{k}") for k in range(WORKERS)) + self.balance("same"),
                         (WORKERS + 1) * 1000)


if __name__ == "__main__":
    unittest.main(verbosity=2)
