"""Defect 3 (issue 12): a stream that never sends `open` took a session slot until the 300 s
idle reaper, so 16 idle streams locked everyone out.

Fixed behaviour: a slot is taken only by a valid `open`; a stream that sends none within
--open-timeout is closed with DEADLINE_EXCEEDED; one address holds at most
--max-streams-per-peer streams (beyond: RESOURCE_EXHAUSTED naming the per-address limit); an
honest client from another address opens and generates meanwhile.
"""
import unittest

import attack_harness as h

OPEN_TIMEOUT = 2
PER_PEER = 8


class StreamWithoutOpen(unittest.TestCase):
    def test_silent_streams_are_closed_and_take_no_slot(self):
        server = h.Server(h.free_server_args(*h.limits(open_timeout=OPEN_TIMEOUT, idle_timeout=300,
                                                        max_streams_per_peer=PER_PEER)))
        try:
            attacker = h.Relay("127.0.0.1", server.port, source="127.0.0.2")
            # One connection per stream, so a per-connection stream limit (HTTP/2
            # MAX_CONCURRENT_STREAMS) cannot stand in for the per-address one.
            channels = [h.Blocks(attacker.address) for _ in range(20)]
            evil = channels[0]
            client = h.Blocks(server.endpoint)
            silent = [c.stream(timeout=60) for c in channels]
            h.wait_until(lambda: sum(s.done.is_set() for s in silent) >= 20 - PER_PEER, 5)
            active = client.info().active_sessions
            # The honest client from 127.0.0.1, while the attacker's streams are still open.
            honest = h.honest_chat([server.endpoint])
            h.log(f"while 20 silent streams from 127.0.0.2 were open: active_sessions {active}, honest chat: {honest}")
            self.assertEqual(active, 0, "streams without `open` hold session slots")
            self.assertEqual(honest, "exact")
            for s in silent:
                s.wait(OPEN_TIMEOUT + 8)
            observed = [(s.result, round(s.ended_after, 1) if s.ended_after else None) for s in silent]
            h.log("observed:", observed)
            server.assert_alive(self)
            codes = [s.result.code if s.result else "still open" for s in silent]
            self.assertNotIn("still open", codes, f"silent streams not closed within {OPEN_TIMEOUT + 8} s: {observed}")
            timed_out = [s for s in silent if s.result.code == h.StatusCode.DEADLINE_EXCEEDED]
            refused = [s for s in silent if s.result.code == h.StatusCode.RESOURCE_EXHAUSTED]
            self.assertEqual(len(timed_out) + len(refused), len(silent), observed)
            self.assertLessEqual(len(timed_out), PER_PEER, observed)
            for s in refused:
                self.assertIn("per address", s.result.details)
                self.assertIn(str(PER_PEER), s.result.details)
            for s in timed_out:
                self.assertLess(s.ended_after, OPEN_TIMEOUT + 5, observed)
            self.assertEqual(client.info().active_sessions, 0)
            # The attacker's address is free again afterwards.
            r = evil.exchange([h.open_request(), h.step_request()], timeout=20)
            self.assertEqual(r.code, h.StatusCode.OK, r)
            self.assertEqual(len(r.replies), 2)
            self.assertEqual(attacker.sources_seen, {"127.0.0.2"})
            for c in (*channels, client):
                c.close()
            attacker.close()
            self.assertEqual(server.stop(), 0)
        finally:
            server.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
