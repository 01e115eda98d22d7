"""petalsln-payout end to end: accrue from a chat receipt, pay Lightning addresses served by a
loopback LNURL-pay server (which issues real devnet invoices, or misbehaves on request), crash
the payout process at every step of a payment and restart it, and check every msat through the
devnet balances and the ledger's report.

Run by CTest with PETALSLN_PAYOUT and PETALSLN_WALLET set. Standard library only.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
from lnurl_server import LnurlServer  # noqa: E402

PAYOUT = os.environ["PETALSLN_PAYOUT"]
WALLET = os.environ["PETALSLN_WALLET"]
OPERATOR_FUNDS_MSAT = 1_000_000


class PayoutTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="petalsln-payout-")
        self.devnet = os.path.join(self.dir, "devnet.db")
        self.ledger = os.path.join(self.dir, "ledger.db")
        self.create_account("operator", OPERATOR_FUNDS_MSAT // 1000)
        self.lnurl = LnurlServer(self.devnet, WALLET)

    def tearDown(self):
        self.lnurl.release.set()
        self.lnurl.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def create_account(self, name, sats=0):
        proc = subprocess.run([WALLET, "create-account", name, "--fund-sats", str(sats), "--wallet",
                               f"devnet:{self.devnet}?account={name}"], capture_output=True, text=True, timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stderr)

    def balance(self, name):
        proc = subprocess.run([WALLET, "balance", "--wallet", f"devnet:{self.devnet}?account={name}"],
                              capture_output=True, text=True, timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        return json.loads(proc.stdout)["balance_msat"]

    def payout_cmd(self, *args, timeout_s=None):
        cmd = [PAYOUT, "--wallet", f"devnet:{self.devnet}?account=operator", "--ledger", self.ledger,
               "--allow-http-loopback"]
        if timeout_s:
            cmd += ["--timeout-s", str(timeout_s)]
        return cmd + list(args)

    def payout(self, *args, env=None, timeout_s=None):
        return subprocess.run(self.payout_cmd(*args, timeout_s=timeout_s), capture_output=True, text=True, timeout=120,
                              env={**os.environ, **(env or {})})

    def ok(self, *args, **kw):
        proc = self.payout(*args, **kw)
        self.assertEqual(proc.returncode, 0, f"{args!r}: {proc.stderr}")
        lines = proc.stdout.strip().splitlines()
        self.assertEqual(len(lines), 1, proc.stdout)
        return json.loads(lines[0])

    def receipt(self, work):
        path = os.path.join(self.dir, f"receipt{len(os.listdir(self.dir))}.json")
        entries = [{"peer": "ab" * 32, "blocks": [0, 4], "block_tokens": tokens,
                    "lightning_address": self.lnurl.address(name) if name else None} for name, tokens in work]
        with open(path, "w") as f:
            json.dump({"prompt_ids": [1], "new_ids": [2], "text": "hi", "route": [], "payments": [],
                       "work": entries}, f)
        return path

    def accrue(self, amount, work, *fee):
        return self.ok(*fee, "accrue", "--amount-msat", str(amount), "--receipt", self.receipt(work))

    def check_accounting(self, report):
        total = report["fees_msat"] + sum(p["owed_msat"] + p["paid_msat"] + p["in_flight_msat"]
                                          for p in report["payees"].values())
        self.assertEqual(total, report["accrued_msat"], report)

    # ---- the happy path ------------------------------------------------------------------

    def test_accrue_split_pay_report(self):
        self.create_account("alice")
        self.create_account("bob")
        out = self.accrue(100_000, [("alice", 3), ("bob", 1), (None, 1)], "--fee-bps", "250", "--fee-msat", "100")
        # fee 2500 + 100; rest 97400 by 3:1:1 -> 58440, 19480, 19480 (the last to the operator)
        self.assertEqual(out["fee_msat"], 2600)
        self.assertEqual(out["unaddressed_msat"], 19480)
        self.assertEqual(out["payees"], {self.lnurl.address("alice"): 58440, self.lnurl.address("bob"): 19480})
        paid = self.ok("pay")
        self.assertEqual(sorted((p["address"], p["amount_msat"]) for p in paid["paid"]),
                         [(self.lnurl.address("alice"), 58440), (self.lnurl.address("bob"), 19480)])
        self.assertEqual(paid["failed"], [])
        self.assertEqual(self.balance("alice"), 58440)
        self.assertEqual(self.balance("bob"), 19480)
        self.assertEqual(self.balance("operator"), OPERATOR_FUNDS_MSAT - 58440 - 19480)
        report = self.ok("report")
        self.assertEqual(report["payees"][self.lnurl.address("alice")]["paid_msat"], 58440)
        self.assertEqual(report["fees_msat"], 2600 + 19480)
        self.check_accounting(report)
        # Nothing is due any more: a second pay pays nothing.
        again = self.ok("pay")
        self.assertEqual(again["paid"], [])
        self.assertEqual(self.balance("alice"), 58440)

    def test_threshold_holds_small_debts_until_they_add_up(self):
        self.create_account("carol")
        self.accrue(600, [("carol", 1)])
        self.assertEqual(self.ok("pay")["paid"], [])
        self.assertEqual(self.balance("carol"), 0)
        self.accrue(600, [("carol", 1)])
        self.assertEqual([p["amount_msat"] for p in self.ok("pay")["paid"]], [1200])
        self.assertEqual(self.balance("carol"), 1200)

    # ---- one pay run at a time ---------------------------------------------------------------

    def test_a_second_pay_fails_while_one_runs(self):
        self.create_account("alice")
        self.create_account("bob")
        self.accrue(20_000, [("alice", 1), ("bob", 1)])
        # The first run stops at alice's pay request (first by name) until released, so the
        # second surely starts while the first holds the lock, with nothing paid yet.
        self.lnurl.modes["alice"] = "hold"
        first = subprocess.Popen(self.payout_cmd("pay"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            self.assertTrue(self.lnurl.held.wait(60), "the first pay never asked for alice's pay request")
            second = self.payout("pay")
            self.assertEqual(second.returncode, 1, second.stdout + second.stderr)
            self.assertIn("another pay run holds its lock", second.stderr)
            self.assertIn(self.ledger + ".lock", second.stderr)
            self.assertEqual(second.stdout, "")
            # report is not a pay run: it still works meanwhile.
            self.assertEqual(self.ok("report")["payees"][self.lnurl.address("alice")]["owed_msat"], 10_000)
        finally:
            self.lnurl.release.set()
            out, err = first.communicate(timeout=120)
        self.assertEqual(first.returncode, 0, err)
        paid = json.loads(out)
        self.assertEqual(sorted((p["address"], p["amount_msat"]) for p in paid["paid"]),
                         [(self.lnurl.address("alice"), 10_000), (self.lnurl.address("bob"), 10_000)])
        # Each payee was paid exactly once, and the lock went with the first run.
        self.assertEqual(self.balance("alice"), 10_000)
        self.assertEqual(self.balance("bob"), 10_000)
        self.assertEqual(self.balance("operator"), OPERATOR_FUNDS_MSAT - 20_000)
        self.assertEqual(self.ok("pay")["paid"], [])
        self.check_accounting(self.ok("report"))
        self.assertEqual(os.stat(self.ledger + ".lock").st_mode & 0o777, 0o600)

    # ---- crash at every step of a payment, then restart -------------------------------------

    def crash_then_restart(self, step):
        self.create_account("alice")
        self.create_account("bob")
        self.accrue(50_000, [("alice", 2), ("bob", 3), (None, 1)], "--fee-bps", "100")
        crashed = self.payout("pay", env={"PETALSLN_PAYOUT_CRASH_AT": step})
        self.assertEqual(crashed.returncode, 77, crashed.stderr)
        if step == "after_pay":
            self.assertEqual(self.balance("alice"), 16_500)  # alice (first by name) was paid, not yet marked
        else:
            self.assertEqual(self.balance("alice"), 0)
        mid = self.ok("report")
        self.check_accounting(mid)
        in_flight = mid["payees"][self.lnurl.address("alice")]["in_flight_msat"]
        self.assertEqual(in_flight, 0 if step == "before_record" else 16_500)
        self.ok("pay")
        self.ok("pay")  # a third run finds nothing to do
        # fee 500; rest 49500 by 2:3:1 -> 16500, 24750, 8250 (to the operator)
        self.assertEqual(self.balance("alice"), 16_500)
        self.assertEqual(self.balance("bob"), 24_750)
        self.assertEqual(self.balance("operator"), OPERATOR_FUNDS_MSAT - 16_500 - 24_750)
        report = self.ok("report")
        self.check_accounting(report)
        for name, amount in (("alice", 16_500), ("bob", 24_750)):
            p = report["payees"][self.lnurl.address(name)]
            self.assertEqual((p["owed_msat"], p["in_flight_msat"], p["paid_msat"]), (0, 0, amount), name)
        self.assertEqual(report["fees_msat"], 500 + 8250)

    def test_crash_before_record(self):
        self.crash_then_restart("before_record")

    def test_crash_after_record(self):
        self.crash_then_restart("after_record")

    def test_crash_after_pay(self):
        self.crash_then_restart("after_pay")

    # ---- misbehaving Lightning addresses: refused, with a reason, nothing paid ---------------

    def refused(self, mode, reason, timeout_s=None, deferred=False):
        self.create_account("mallory")
        self.lnurl.modes["mallory"] = mode
        self.accrue(5000, [("mallory", 1)])
        out = self.ok("pay", timeout_s=timeout_s)
        self.assertEqual(out["paid"], [])
        listed = out["deferred"] if deferred else out["failed"]
        self.assertEqual(len(listed), 1, out)
        self.assertIn(reason, listed[0]["reason"])
        self.assertEqual(self.balance("mallory"), 0)
        self.assertEqual(self.balance("operator"), OPERATOR_FUNDS_MSAT)
        report = self.ok("report")
        p = report["payees"][self.lnurl.address("mallory")]
        self.assertEqual((p["owed_msat"], p["in_flight_msat"], p["paid_msat"]), (5000, 0, 0))
        self.check_accounting(report)
        return out

    def test_wrong_amount(self):
        self.refused("wrong_amount", "is for 6000 msat, not the 5000 msat")

    def test_wrong_description_hash(self):
        self.refused("wrong_hash", "description hash")

    def test_amount_out_of_range(self):
        self.refused("out_of_range", "below the payee's minimum", deferred=True)

    def test_error_status(self):
        self.refused("error_status", "payouts are closed for maintenance")

    def test_callback_error_status(self):
        self.refused("callback_error", "amount not accepted today")

    def test_malformed_json(self):
        self.refused("malformed", "not valid JSON")

    def test_slow_reply(self):
        self.refused("slow", "127.0.0.1", timeout_s=1)

    def test_oversized_reply(self):
        self.refused("oversized", "127.0.0.1")

    def test_wrong_tag(self):
        self.refused("wrong_tag", "not 'payRequest'")

    def test_non_https_callback(self):
        self.refused("remote_callback", "must be an https:// URL")

    def test_http_error_status(self):
        self.refused("http_500", "HTTP 500")

    def test_failure_backs_off_then_retries(self):
        out = self.refused("callback_error", "amount not accepted today")
        self.assertTrue(out["failed"])
        self.lnurl.modes["mallory"] = "ok"
        deferred = self.ok("pay")
        self.assertEqual(deferred["paid"], [])
        self.assertIn("backing off", deferred["deferred"][0]["reason"])
        paid = self.ok("pay", "--ignore-backoff")
        self.assertEqual([p["amount_msat"] for p in paid["paid"]], [5000])
        self.assertEqual(self.balance("mallory"), 5000)
        report = self.ok("report")
        self.assertEqual(report["payees"][self.lnurl.address("mallory")]["failures"], 0)

    # ---- bad command lines and receipts ------------------------------------------------------

    def test_bad_inputs(self):
        def status(*args, loopback=True):
            cmd = [PAYOUT, "--ledger", self.ledger] + (["--allow-http-loopback"] if loopback else []) + list(args)
            return subprocess.run(cmd, capture_output=True, text=True, timeout=60)

        self.assertEqual(status("frobnicate").returncode, 2)
        self.assertEqual(status("accrue", "--receipt", self.receipt([("a", 1)])).returncode, 2)  # no amount
        self.assertEqual(status("pay").returncode, 2)  # no wallet
        self.assertEqual(status("report", "--fee-bps", "10001").returncode, 0)  # fee unused by report
        self.assertEqual(status("accrue", "--amount-msat", "10", "--fee-bps", "10001",
                                "--receipt", self.receipt([("a", 1)])).returncode, 2)
        # A loopback address with a port needs --allow-http-loopback.
        proc = status("accrue", "--amount-msat", "1000", "--receipt", self.receipt([("a", 1)]), loopback=False)
        self.assertEqual(proc.returncode, 1)
        self.assertIn("not a domain name", proc.stderr)
        for bad, why in ((b"[]", "not a JSON object"), (b'{"work": {}}', '"work" array'),
                         (b'{"work": [{"block_tokens": -1, "lightning_address": null}]}', "block_tokens"),
                         (b'{"work": [{"block_tokens": 1}]}', "lightning_address"),
                         (b'{"work": [{"block_tokens": 1, "lightning_address": "no-at-sign"}]}', "user@domain"),
                         (b'{"work": [{"block_tokens": 0, "lightning_address": null}]}', "no block-tokens"),
                         (b"{" + b" " * (2 << 20) + b"}", "more than the limit")):
            path = os.path.join(self.dir, "bad.json")
            with open(path, "wb") as f:
                f.write(bad)
            proc = status("accrue", "--amount-msat", "1000", "--receipt", path)
            self.assertEqual(proc.returncode, 1, bad[:80])
            self.assertIn(why, proc.stderr)
        # Nothing was accrued by any of them.
        self.assertEqual(json.loads(status("report").stdout)["accrued_msat"], 0)
        # A file that is not a ledger is refused, not changed.
        with open(self.devnet, "rb") as f:
            before = f.read()
        proc = subprocess.run([PAYOUT, "--ledger", self.devnet, "report"], capture_output=True, text=True, timeout=60)
        self.assertEqual(proc.returncode, 1)
        self.assertIn("not a petalsln payout ledger", proc.stderr)
        self.assertEqual(os.stat(self.ledger).st_mode & 0o777, 0o600)


if __name__ == "__main__":
    unittest.main(verbosity=2)
