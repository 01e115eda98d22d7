"""Defect 6 (issue 12): an unparseable message on an Inference stream ended the stream with
status OK; an unparseable unary request got INTERNAL instead of INVALID_ARGUMENT.

Fixed behaviour: unparseable bytes on Inference (as the first message or after a valid
`open`) or Forward are INVALID_ARGUMENT, and the server goes on serving everyone else.
"""
import unittest

import attack_harness as h

GARBAGE = [
    b"\x0a\x05ab",              # field 1, length 5, two bytes follow
    b"\xff" * 11,               # a varint tag longer than ten bytes
    b"\x0f",                    # wire type 7 does not exist
    b"\x0a\x80\x80\x80\x80\x10",  # a length of 4 GiB
    b"\x12\x03\x0a\x01",        # a nested message cut short
]


class UnparseableMessages(unittest.TestCase):
    def test_unparseable_bytes_are_invalid_argument(self):
        server = h.Server(h.free_server_args(*h.limits(open_timeout=2)))
        try:
            client = h.Blocks(server.endpoint)
            observed = []
            for junk in GARBAGE:
                observed.append(("Inference, first message", junk, client.exchange([junk], timeout=20, keep_open=True)))
                opened = client.exchange([h.open_request(), junk], timeout=20, keep_open=True)
                observed.append(("Inference, after open", junk, opened))
                stepped = client.exchange([h.open_request(), h.step_request(0), junk], timeout=20, keep_open=True)
                observed.append(("Inference, after a step", junk, stepped))
                observed.append(("Forward", junk, client.forward(junk)))
            h.log("observed:", [(w, j, r) for w, j, r in observed])
            server.assert_alive(self, "after the unparseable messages")
            for what, junk, r in observed:
                self.assertEqual(r.code, h.StatusCode.INVALID_ARGUMENT, (what, junk, r))
            self.assertEqual(client.info().active_sessions, 0)
            h.assert_honest_chat(self, [server.endpoint])
            server.assert_alive(self, "after the honest chat")
            client.close()
            self.assertEqual(server.stop(), 0)
        finally:
            server.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
