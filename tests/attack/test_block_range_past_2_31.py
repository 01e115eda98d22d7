"""Defect 2 (issue 12): a block range end of 2^31 or more was narrowed to a negative int.

The range check compared static_cast<int>(end), so end = 2^31 (or 2^32-1) passed as negative:
the KV-cache budget was bypassed (a free server with --cache-mb 1 admitted 15 such sessions and
the announced free cache rose), and Forward with such an end computed every block.

Fixed behaviour: any begin/end outside the server's blocks, however large, is INVALID_ARGUMENT
for `open` and for Forward; the budget and the announced free cache are untouched, and an
honest client still gets its exact answer.
"""
import unittest

import attack_harness as h

BAD_RANGES = [(0, 2**31), (0, 2**31 + 5), (0, 2**32 - 1), (1, 2**32 - 2), (7, 2**31), (2**31, 2**31 + 1),
              (2**32 - 2, 2**32 - 1), (2**31 - 1, 2**31), (0, 9), (8, 8), (3, 2)]


class BlockRangePast2To31(unittest.TestCase):
    def test_huge_block_ranges_are_invalid(self):
        server = h.Server(h.free_server_args("--cache-mb", "1", *h.limits(open_timeout=2)))
        try:
            client = h.Blocks(server.endpoint)
            free_before = client.record().free_cache_tokens
            held, observed = [], []
            for begin, end in BAD_RANGES:
                # Opens are held open (as an attacker would) so that admitted ones keep their budget.
                s = client.stream(timeout=60)
                held.append(s)
                s.send(h.open_request(begin, end, max_length=256))
                reply = s.reply(timeout=10)
                r = s.wait(0.5) if reply is None else None
                observed.append(("open", begin, end, "opened" if reply is not None else r))
            free_during = client.record().free_cache_tokens
            active_during = client.info().active_sessions
            for begin, end in BAD_RANGES:
                observed.append(("forward", begin, end, client.forward(h.forward_request(begin, end), timeout=60)))
            full = client.forward(h.forward_request(0, h.BLOCKS))
            every_block = [(b, e) for what, b, e, r in observed
                           if what == "forward" and isinstance(r, h.Result) and r.code == h.StatusCode.OK and r.replies == full.replies]
            h.log("observed:", observed)
            h.log(f"free_cache_tokens announced: {free_before} before, {free_during} with the opens held; "
                  f"active_sessions {active_during}; Forward ranges that computed every block: {every_block}")
            server.assert_alive(self, "after the huge ranges")
            for what, begin, end, r in observed:
                self.assertIsInstance(r, h.Result, f"{what} [{begin}, {end}) was admitted: {observed}")
                self.assertEqual(r.code, h.StatusCode.INVALID_ARGUMENT, (what, begin, end, r))
                self.assertTrue(str(begin) in r.details or str(end) in r.details, f"the message must name the range: {r}")
            self.assertEqual(active_during, 0)
            self.assertEqual(free_during, free_before, "the announced free cache changed")
            for s in held:
                s.cancel()
            self.assertEqual(client.record().free_cache_tokens, free_before)
            h.assert_honest_chat(self, [server.endpoint])
            server.assert_alive(self, "after the honest chat")
            client.close()
            self.assertEqual(server.stop(), 0)
        finally:
            server.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
