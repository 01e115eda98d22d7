"""The wallet conformance suite against NwcWallet: petalsln-wallet-conformance opens the
nostr+walletconnect:// URI that nwc_service.js (nostr-tools, backed by a devnet account)
hands out through relay.js, and pays to and from a second account of the same devnet file.

Runs once with NIP-44 v2 and once with a NIP-04-only service. NIP-47's make_invoice requires
an amount, so the two amount-less-invoice checks must come out SKIP with the backend's reason;
every other check must PASS (make_invoice has description_hash and expiry, pay_invoice an
amount for amount-less invoices). Run by CTest with PETALSLN_NODE, PETALSLN_WALLET and
PETALSLN_WALLET_CONFORMANCE set. Standard library only.
"""
import json
import os
import shutil
import subprocess
import tempfile
import unittest

from node_process import Proc

WALLET = os.environ["PETALSLN_WALLET"]
CONFORMANCE = os.environ["PETALSLN_WALLET_CONFORMANCE"]


# The checks NIP-47 cannot do, and the words the skip reason must contain.
SKIPPED = {
    "invoice_amountless": "no amount-less invoices",
    "counterparty_pays_amountless_invoice": "no amount-less invoices",
}
CHECKS = 17


def parse(stdout):
    lines = stdout.strip().splitlines()
    results = {}
    for line in lines[:-1]:
        verdict, rest = line.split(" ", 1)
        results[rest.split(":", 1)[0]] = (verdict, rest)
    return results, json.loads(lines[-1]) if lines else None


class NwcConformanceNip44(unittest.TestCase):
    ENCRYPTION = "nip44_v2"

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="petalsln-nwc-conformance-")
        self.devnet = os.path.join(self.dir, "devnet.db")
        for name in ("service", "counterparty"):
            subprocess.run([WALLET, "create-account", name, "--fund-sats", "2000", "--wallet", f"devnet:{self.devnet}"],
                           check=True, capture_output=True, timeout=60)
        self.procs = []
        self.relay = self.start("relay.js")
        self.service = self.start("nwc_service.js", "--relay", self.relay.info["url"], "--wallet-cli", WALLET,
                                  "--devnet", f"devnet:{self.devnet}?account=service", "--encryption", self.ENCRYPTION)

    def tearDown(self):
        for p in reversed(self.procs):
            p.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def start(self, *args):
        p = Proc(*args)
        self.procs.append(p)
        return p

    def test_conformance(self):
        uri = self.service.info["uri"]
        secret = uri.split("secret=")[1].split("&")[0]
        self.assertEqual(len(secret), 64)
        proc = subprocess.run([CONFORMANCE, "--wallet", uri, "--counterparty", f"devnet:{self.devnet}?account=counterparty",
                               "--secret", secret], capture_output=True, text=True, timeout=400)
        report = proc.stdout + proc.stderr
        self.assertEqual(proc.returncode, 0, report)
        results, summary = parse(proc.stdout)
        self.assertEqual(len(results), CHECKS, report)
        for name, (verdict, line) in results.items():
            if name in SKIPPED:
                self.assertEqual(verdict, "SKIP", line)
                self.assertIn(SKIPPED[name], line)
            else:
                self.assertEqual(verdict, "PASS", line)
        self.assertEqual(summary["passed"], CHECKS - len(SKIPPED), report)
        self.assertEqual((summary["failed"], summary["skipped"]), (0, len(SKIPPED)), report)
        self.assertEqual(summary["wallet"], f"nostr+walletconnect://{self.service.info['service_pubkey']}"
                                            f"?relay={self.relay.info['url']}")
        self.assertNotIn(secret, summary["wallet"])

    def test_the_suite_fails_when_the_service_refuses(self):
        # The control: the same suite against a service that answers every request with an
        # error must fail, so the passes above come from the service doing the work.
        bad = self.start("nwc_service.js", "--relay", self.relay.info["url"], "--wallet-cli", WALLET,
                         "--devnet", f"devnet:{self.devnet}?account=service", "--encryption", self.ENCRYPTION,
                         "--misbehave", "error:INTERNAL")
        proc = subprocess.run([CONFORMANCE, "--wallet", bad.info["uri"], "--counterparty",
                               f"devnet:{self.devnet}?account=counterparty"], capture_output=True, text=True, timeout=400)
        self.assertEqual(proc.returncode, 1, proc.stdout + proc.stderr)
        results, summary = parse(proc.stdout)
        for name in ("balance_readable", "invoice_fixed_amount_with_memo", "wallet_pays_invoice"):
            self.assertEqual(results[name][0], "FAIL", results[name][1])
        self.assertGreater(summary["failed"], 0)


class NwcConformanceNip04(NwcConformanceNip44):
    ENCRYPTION = "nip04"


if __name__ == "__main__":
    unittest.main(verbosity=2)
