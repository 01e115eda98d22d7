"""Defect 1 (issue 12): a crash without payment.

When the paywall cannot create an invoice (the wallet backend is down), an unpaid `open`
answered UNKNOWN "Unexpected error in RPC handling", its session slot was never released, and
the idle reaper later cancelled the dead call and the process died (segfault). A malformed
token sent while the wallet fails took the same path; sixteen such calls filled every slot.

Fixed behaviour: UNAVAILABLE "cannot issue an invoice" (nothing about the wallet), no slot
taken (Info.active_sessions stays 0), no crash at any later time, and once the wallet is back
an honest client opens, pays and generates.
"""
import os
import tempfile
import time
import unittest

import attack_harness as h


class UnpaidOpenWithFailingWallet(unittest.TestCase):
    def test_unpaid_open_while_the_wallet_fails(self):
        with tempfile.TemporaryDirectory() as tmp:
            devnet = h.Devnet(tmp, {"client": 1000, "op": 0})
            wallet = h.FailingWallet(tmp, devnet, "op")
            server = None
            try:
                server = h.Server(h.free_server_args("--price-msat", "1000", "--wallet", wallet.uri,
                                                     "--identity", os.path.join(tmp, "s.key"),
                                                     *h.limits(open_timeout=1, idle_timeout=2)))
                attacker = h.Relay("127.0.0.1", server.port, source="127.0.0.2")
                evil = h.Blocks(attacker.address)
                secrets = [str(wallet.relay.port), wallet.KEY, "api/v1", "wallet.internal", "LNbits", "502"]
                wallet.down()
                results = []
                # More unpaid opens than the server has session slots (16), one after another.
                for i in range(20):
                    results.append(evil.exchange([h.open_request()], timeout=20))
                # Malformed tokens take the challenge path too.
                for token in ("L402 garbage", "L402 AAAA:" + "00" * 32, "Bearer x", "L402 " + "A" * 5000):
                    results.append(evil.exchange([h.open_request()], metadata=(("authorization", token),), timeout=20))
                # And the wallet answering with an error page instead of being unreachable.
                wallet.error_page()
                for i in range(4):
                    results.append(evil.exchange([h.open_request()], timeout=20))
                observed = [(r.code.name, r.details) for r in results]
                h.log("observed:", observed[:2], "...", observed[-2:])
                server.assert_alive(self, "after the unpaid opens")
                self.assertEqual({r.code for r in results}, {h.StatusCode.UNAVAILABLE}, observed)
                for r in results:
                    h.assert_generic_wallet_failure(self, r, secrets)
                self.assertEqual(h.Blocks(server.endpoint).info().active_sessions, 0, "a refused open kept its slot")
                # The details go to the operator's log.
                self.assertIn(str(wallet.relay.port), server.stderr())
                # Past the idle timeout (and a reaper pass): still alive.
                time.sleep(4)
                server.assert_alive(self, "after the idle timeout")
                wallet.up()
                h.assert_honest_chat(self, [server.endpoint], wallet=devnet.uri("client"))
                server.assert_alive(self, "after the honest chat")
                self.assertEqual(attacker.sources_seen, {"127.0.0.2"})
                evil.close()
                attacker.close()
                self.assertEqual(server.stop(), 0, server.stderr()[-3000:])
            finally:
                if server:
                    server.close()
                wallet.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
