"""Issue 12: steps are scheduled fairly across peers. A peer flooding maximum-size Forward calls
(batch --max-batch, --max-length positions, every block) from its own address gets its share of
the server, not more: an honest chat from another address meanwhile waits at most about one
flood call per step, not for the flood's whole queue.

The bound is relative to what this machine measures in the same run: the honest chat alone
(t_alone) and one flood call (t_call). Per decoding step the honest client may wait a few
flood calls (2.5 x t_call), never the queue of all the attacker's calls.
"""
import threading
import time
import unittest

import attack_harness as h

FLOODERS = 8
MAX_BATCH = 8
MAX_LENGTH = 256


class ForwardFloodFairness(unittest.TestCase):
    def test_flooding_peer_gets_its_share_not_more(self):
        server = h.Server(h.free_server_args("--max-batch", str(MAX_BATCH), "--max-length", str(MAX_LENGTH)))
        try:
            case = h.reference_cases()[0]
            t = time.monotonic()
            h.assert_honest_chat(self, [server.endpoint])
            t_alone = time.monotonic() - t
            attacker = h.Relay("127.0.0.1", server.port, source="127.0.0.2")
            channels = [h.Blocks(attacker.address) for _ in range(FLOODERS)]
            big = h.forward_request(0, h.BLOCKS, batch=MAX_BATCH, seq=MAX_LENGTH)
            t = time.monotonic()
            r = channels[0].forward(big, timeout=120)
            t_call = time.monotonic() - t
            self.assertEqual(r.code, h.StatusCode.OK, r)
            stop = threading.Event()
            done = []

            def flood(c):
                while not stop.is_set() and len(done) < 2000:
                    done.append(c.forward(big, timeout=300).code)

            threads = [threading.Thread(target=flood, args=(c,), daemon=True) for c in channels]
            for th in threads:
                th.start()
            time.sleep(min(5, 2 * t_call))
            t = time.monotonic()
            h.assert_honest_chat(self, [server.endpoint])
            t_flooded = time.monotonic() - t
            stop.set()
            for th in threads:
                th.join(timeout=300)
            steps = 1 + len(case["new_ids"])
            bound = t_alone + steps * 2.5 * t_call + 10
            h.log(f"honest chat alone {t_alone:.1f} s, one flood call {t_call:.2f} s, honest chat under a "
                  f"{FLOODERS}-call flood {t_flooded:.1f} s (bound {bound:.1f} s); flood calls: "
                  f"{ {c.name: done.count(c) for c in set(done)} }")
            server.assert_alive(self, "after the flood")
            self.assertLessEqual(t_flooded, bound, "the flooding peer got more than its share")
            self.assertIn(h.StatusCode.OK, done, "the flooding peer got nothing at all")
            self.assertTrue(set(done) <= {h.StatusCode.OK, h.StatusCode.RESOURCE_EXHAUSTED}, set(done))
            for c in channels:
                c.close()
            attacker.close()
            self.assertEqual(server.stop(), 0)
        finally:
            server.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
