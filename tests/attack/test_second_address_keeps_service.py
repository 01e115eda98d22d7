"""Issue 12: "Under any number of unpaid or idle connections from one address, a client from
another address (a second loopback address such as 127.0.0.2) still opens, pays and generates."

The attacker's traffic goes through a relay whose outgoing sockets are bound to 127.0.0.2; the
honest petalsln-chat connects directly from 127.0.0.1. Before the fixes, 16 idle streams or 16
held sessions from one address took every slot and the honest client got RESOURCE_EXHAUSTED.

Fixed behaviour: per-address limits (--max-streams-per-peer, --max-sessions-per-peer,
--max-unpaid-per-peer) refuse the attacker's excess with RESOURCE_EXHAUSTED naming the
per-address limit, and the honest client is served exactly.
"""
import concurrent.futures
import os
import tempfile
import unittest

import attack_harness as h

STREAMS_PER_PEER = 8
SESSIONS_PER_PEER = 4
UNPAID_PER_PEER = 4


def per_peer_limits(open_timeout):
    return h.limits(open_timeout=open_timeout, idle_timeout=300, max_streams_per_peer=STREAMS_PER_PEER,
                    max_sessions_per_peer=SESSIONS_PER_PEER, max_unpaid_per_peer=UNPAID_PER_PEER)


class SecondAddressKeepsService(unittest.TestCase):
    def assert_per_address_refusal(self, result, limit):
        self.assertEqual(result.code, h.StatusCode.RESOURCE_EXHAUSTED, result)
        self.assertIn("per address", result.details)
        self.assertIn(str(limit), result.details)

    def test_idle_and_unpaid_flood_on_a_priced_server(self):
        with tempfile.TemporaryDirectory() as tmp:
            devnet = h.Devnet(tmp, {"client": 1000, "op": 0})
            server = h.Server(h.free_server_args("--price-msat", "1000", "--wallet", devnet.uri("op"),
                                                 "--identity", os.path.join(tmp, "s.key"), *per_peer_limits(60)))
            try:
                attacker = h.Relay("127.0.0.1", server.port, source="127.0.0.2")
                # One connection per stream, so a per-connection stream limit (HTTP/2
                # MAX_CONCURRENT_STREAMS) cannot stand in for the per-address one.
                channels = [h.Blocks(attacker.address) for _ in range(40)]
                silent = [c.stream(timeout=120) for c in channels]
                with concurrent.futures.ThreadPoolExecutor(16) as pool:
                    unpaid = list(pool.map(lambda i: channels[i % 4].forward(h.forward_request(0, 8 - i % 3)), range(200)))
                    unpaid_opens = list(pool.map(lambda i: channels[i % 4].exchange([h.open_request()], timeout=20),
                                                 range(40)))
                still_open = [s for s in silent if not s.done.is_set()]
                h.log(f"attacker: {len(still_open)} of {len(silent)} silent streams open; unpaid Forward codes "
                      f"{sorted({r.code.name for r in unpaid})}; unpaid open codes {sorted({r.code.name for r in unpaid_opens})}")
                server.assert_alive(self, "after the flood")
                # The honest client, from 127.0.0.1, while the attacker's streams are held.
                h.assert_honest_chat(self, [server.endpoint], wallet=devnet.uri("client"))
                server.assert_alive(self, "after the honest chat")
                self.assertLessEqual(len(still_open), STREAMS_PER_PEER)
                for s in silent:
                    if s.done.is_set() and s.result.code == h.StatusCode.RESOURCE_EXHAUSTED:
                        self.assert_per_address_refusal(s.result, STREAMS_PER_PEER)
                for r in unpaid + unpaid_opens:
                    if r.code != h.StatusCode.UNAUTHENTICATED:
                        self.assertEqual(r.code, h.StatusCode.RESOURCE_EXHAUSTED, r)
                        self.assertIn("per address", r.details)
                self.assertEqual(attacker.sources_seen, {"127.0.0.2"})
                for s in silent:
                    s.cancel()
                for c in channels:
                    c.close()
                attacker.close()
                self.assertEqual(server.stop(), 0)
            finally:
                server.close()

    def test_held_sessions_on_a_free_server(self):
        server = h.Server(h.free_server_args(*per_peer_limits(10)))
        try:
            attacker = h.Relay("127.0.0.1", server.port, source="127.0.0.2")
            channels = [h.Blocks(attacker.address) for _ in range(20)]
            held, results = [], []
            for i in range(20):
                s = channels[i].stream(timeout=120)
                s.send(h.open_request(max_length=256))
                held.append(s)
                results.append("opened" if s.reply(timeout=10) is not None else s.wait(1))
            h.log("attacker's 20 opens:", results)
            client = h.Blocks(server.endpoint)
            active = client.info().active_sessions
            server.assert_alive(self, "after the held sessions")
            h.assert_honest_chat(self, [server.endpoint])
            server.assert_alive(self, "after the honest chat")
            opened = [r for r in results if r == "opened"]
            self.assertEqual(len(opened), SESSIONS_PER_PEER, results)
            self.assertEqual(active, SESSIONS_PER_PEER)
            for r in results:
                if r != "opened":
                    self.assert_per_address_refusal(r, SESSIONS_PER_PEER)
            for s in held:
                s.cancel()
            self.assertTrue(h.wait_until(lambda: client.info().active_sessions == 0, 10))
            for c in (*channels, client):
                c.close()
            attacker.close()
            self.assertEqual(server.stop(), 0)
        finally:
            server.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
