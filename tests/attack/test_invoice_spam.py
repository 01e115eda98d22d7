"""Defect 4 (issue 12): invoice spam. Every unpaid call created a fresh invoice (1000 unpaid
calls added 1000 invoices to the devnet database) and nothing pruned expired unpaid invoices.

Fixed behaviour: repeated unpaid calls from one address for the same terms get the same
challenge (the same invoice) while it is unexpired; one address holds at most
--max-unpaid-per-peer distinct unexpired challenges (beyond: RESOURCE_EXHAUSTED naming the
per-address limit); the devnet prunes expired unpaid invoices when it creates a new one; an
honest client from another address still pays and generates.
"""
import os
import tempfile
import time
import unittest

import attack_harness as h

CALLS = 1000
MAX_UNPAID = 4
AGE_S = 3 * 3600


def invoice_of(result):
    header = result.trailing.get("www-authenticate", "")
    start = header.find('invoice="')
    return header[start + 9:header.find('"', start + 9)] if start >= 0 else None


class InvoiceSpam(unittest.TestCase):
    def test_unpaid_calls_reuse_one_challenge(self):
        with tempfile.TemporaryDirectory() as tmp:
            devnet = h.Devnet(tmp, {"client": 1000, "op": 0})
            server = h.Server(h.free_server_args("--price-msat", "1000", "--wallet", devnet.uri("op"),
                                                 "--identity", os.path.join(tmp, "s.key"),
                                                 *h.limits(max_unpaid_per_peer=MAX_UNPAID)))
            try:
                attacker = h.Relay("127.0.0.1", server.port, source="127.0.0.2")
                evil = h.Blocks(attacker.address)
                before = devnet.invoices("op")
                t0 = time.monotonic()
                same_terms = [evil.forward(h.forward_request(0, 8)) for _ in range(CALLS)]
                spent = time.monotonic() - t0
                added_same = devnet.invoices("op") - before
                codes = {r.code for r in same_terms}
                distinct = {invoice_of(r) for r in same_terms}
                h.log(f"{CALLS} unpaid Forward calls (same terms) in {spent:.1f} s: codes {[c.name for c in codes]}, "
                      f"{len(distinct)} distinct invoices, {added_same} invoices added to the devnet")
                self.assertEqual(codes, {h.StatusCode.UNAUTHENTICATED}, same_terms[:3])
                self.assertEqual(added_same, 1, "repeated unpaid calls must reuse their challenge")
                self.assertEqual(len(distinct), 1)
                self.assertNotIn(None, distinct)
                # Unpaid opens for the same terms: no new invoices either.
                opens = [evil.exchange([h.open_request(0, 8)], timeout=20) for _ in range(20)]
                self.assertEqual({r.code for r in opens}, {h.StatusCode.UNAUTHENTICATED}, opens[:3])
                # Other terms (other block ranges): at most MAX_UNPAID unexpired challenges per address.
                varied = [evil.forward(h.forward_request(b, e)) for b in range(0, 4) for e in range(b + 1, 9)]
                for r in varied:
                    if r.code == h.StatusCode.RESOURCE_EXHAUSTED:
                        self.assertIn("per address", r.details)
                        self.assertIn(str(MAX_UNPAID), r.details)
                    else:
                        self.assertEqual(r.code, h.StatusCode.UNAUTHENTICATED, r)
                added = devnet.invoices("op") - before
                h.log(f"after {len(varied)} calls with varied terms: {added} invoices added in all")
                self.assertLessEqual(added, MAX_UNPAID)
                self.assertLessEqual(len({invoice_of(r) for r in varied} - {None}), MAX_UNPAID)
                server.assert_alive(self, "after the spam")
                # The honest client (another address) gets its own challenge, pays and generates.
                h.assert_honest_chat(self, [server.endpoint], wallet=devnet.uri("client"))
                server.assert_alive(self, "after the honest chat")
                self.assertEqual(attacker.sources_seen, {"127.0.0.2"})
                evil.close()
                attacker.close()
                self.assertEqual(server.stop(), 0)
            finally:
                server.close()

    def test_devnet_prunes_expired_unpaid_invoices(self):
        with tempfile.TemporaryDirectory() as tmp:
            devnet = h.Devnet(tmp, {"spam": 0, "payer": 100})
            paid = h.wallet_cli(devnet.uri("spam"), "invoice", "--amount-msat", "1000", "--expiry-s", "60")
            h.wallet_cli(devnet.uri("payer"), "pay", paid["bolt11"])
            for _ in range(5):
                h.wallet_cli(devnet.uri("spam"), "invoice", "--amount-msat", "1000", "--expiry-s", "60")
            self.assertEqual(devnet.invoices("spam"), 6)
            # Age them: they expired three hours ago (the devnet may keep an expired invoice for a
            # while so a lookup can still say "expired"; not for hours).
            with h.sqlite3.connect(devnet.path, timeout=30) as db:
                db.execute("UPDATE invoices SET created_at = created_at - ?1, expires_at = expires_at - ?1 "
                           "WHERE account = 'spam'", (AGE_S,))
            h.wallet_cli(devnet.uri("spam"), "invoice", "--amount-msat", "1000", "--expiry-s", "600")
            now = int(time.time())
            h.log("spam invoices after ageing and a new invoice:", devnet.invoices("spam"))
            self.assertEqual(devnet.invoices("spam", f"state = 'open' AND expires_at < {now}"), 0,
                             "expired unpaid invoices are kept")
            self.assertEqual(devnet.invoices("spam", "state = 'settled'"), 1, "a settled invoice must be kept")
            self.assertEqual(devnet.invoices("spam"), 2)

if __name__ == "__main__":
    unittest.main(verbosity=2)
