"""Defect 7 (issue 12): with a failing wallet, an unpaid Forward returned INTERNAL
"HTTP POST https://<the operator's wallet host>/... failed": internal details leaked to the peer.

Fixed behaviour: UNAVAILABLE with a generic message ("cannot issue an invoice") for Forward and
`open`, whether the wallet host is unreachable or answers with an error page; the details
(host, port, path) go only to the server's stderr; the server serves paying clients again once
the wallet is back.
"""
import os
import tempfile
import unittest

import attack_harness as h


class WalletFailureDoesNotLeak(unittest.TestCase):
    def test_wallet_errors_stay_in_the_server_log(self):
        with tempfile.TemporaryDirectory() as tmp:
            devnet = h.Devnet(tmp, {"client": 1000, "op": 0})
            wallet = h.FailingWallet(tmp, devnet, "op")
            server = None
            try:
                server = h.Server(h.free_server_args("--price-msat", "1000", "--wallet", wallet.uri,
                                                     "--identity", os.path.join(tmp, "s.key"),
                                                     *h.limits(open_timeout=1, idle_timeout=2)))
                client = h.Blocks(server.endpoint)
                secrets = [str(wallet.relay.port), wallet.KEY, "api/v1", "wallet.internal", "LNbits", "502",
                           "127.0.0.1", tmp]
                observed = []
                for mode in (wallet.down, wallet.error_page):
                    mode()
                    observed.append((mode.__name__, "Forward", client.forward(h.forward_request())))
                    observed.append((mode.__name__, "open", client.exchange([h.open_request()], timeout=20)))
                h.log("observed:", observed)
                server.assert_alive(self, "after the wallet failures")
                for mode, what, r in observed:
                    h.assert_generic_wallet_failure(self, r, secrets)
                log = server.stderr()
                self.assertIn(str(wallet.relay.port), log, "the operator's log must say what failed")
                self.assertEqual(client.info().active_sessions, 0)
                wallet.up()
                h.assert_honest_chat(self, [server.endpoint], wallet=devnet.uri("client"))
                server.assert_alive(self, "after the honest chat")
                client.close()
                self.assertEqual(server.stop(), 0)
            finally:
                if server:
                    server.close()
                wallet.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
