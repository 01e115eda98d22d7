"""Many chat clients against one server, and a client against a stopped one.

Issue 12, defect 5: 30 concurrent `petalsln-chat --peers` clients against one healthy server
with room for all of them used to lose a third of their answers to "no server covers blocks
0-7", and a stopped server was reported the same way within half a second whatever --timeout
said. Standard library only; the binaries come from PETALSLN_SERVER and PETALSLN_CHAT.

PETALSLN_LOAD_CLIENTS and PETALSLN_LOAD_RUNS change the load (default 30 clients, 5 runs).
"""
import concurrent.futures
import json
import os
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
from swarm_harness import CHAT, Process  # noqa: E402

DEMO = os.environ["PETALSLN_DEMO_MODEL"]
CLIENTS = int(os.environ.get("PETALSLN_LOAD_CLIENTS", "30"))
RUNS = int(os.environ.get("PETALSLN_LOAD_RUNS", "5"))


def reference_cases():
    with open(os.path.join(DEMO, "reference.json"), encoding="utf-8") as f:
        return json.load(f)["greedy"]


def start_chat(endpoint, case, *extra):
    args = [CHAT, "--model", DEMO, "--peers", endpoint, "--prompt", case["question"], "--greedy",
            "--max-new-tokens", str(len(case["new_ids"])), "--threads", "1", "--json", *extra]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def outcome(proc, case, timeout):
    """Waits for a chat and returns None if it answered `case` exactly, else what went wrong."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        return f"no exit within {timeout} s: {err.decode(errors='replace')[-500:]}"
    if proc.returncode != 0:
        return f"exit {proc.returncode}: {err.decode(errors='replace')[-500:]}"
    reply = json.loads(out.decode().strip().splitlines()[-1])
    if reply["new_ids"] != case["new_ids"]:
        return f"wrong answer to {case['question']!r}: {reply['text']!r}"
    return None


def free_port():
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ConcurrentChats(unittest.TestCase):
    def test_every_chat_answers_when_the_server_has_room(self):
        cases = reference_cases()
        server = Process(["--model", DEMO, "--blocks", "0:8", "--max-sessions", "64", "--threads", "1"], "server")
        try:
            endpoint = server.ready["endpoint"]
            for run in range(1, RUNS + 1):
                t0 = time.monotonic()
                chats = [(start_chat(endpoint, cases[i % len(cases)]), cases[i % len(cases)]) for i in range(CLIENTS)]
                with concurrent.futures.ThreadPoolExecutor(CLIENTS) as pool:
                    failures = [f for f in pool.map(lambda pc: outcome(*pc, timeout=600), chats) if f is not None]
                elapsed = time.monotonic() - t0
                print(f"run {run}: {CLIENTS - len(failures)} of {CLIENTS} answered in {elapsed:.1f} s", flush=True)
                self.assertEqual(failures, [], f"run {run}: {len(failures)} of {CLIENTS} chats failed")
        finally:
            self.assertEqual(server.stop(), 0, server.stderr())
            server.close()

    def test_a_stopped_server_is_named_unreachable_after_the_timeout(self):
        endpoint = f"127.0.0.1:{free_port()}"
        t0 = time.monotonic()
        proc = start_chat(endpoint, reference_cases()[0], "--timeout", "3")
        _, err = proc.communicate(timeout=120)
        elapsed = time.monotonic() - t0
        err = err.decode(errors="replace")
        self.assertEqual(proc.returncode, 1, err)
        self.assertIn("no server covers blocks 0-7", err)
        self.assertIn(f"{endpoint} unreachable (connection refused)", err)
        self.assertIn("attempts in", err)
        # It kept trying for the whole --timeout (the model load adds a little before that),
        # instead of giving up on the first refused connection.
        self.assertGreaterEqual(elapsed, 3.0, err)
        self.assertLess(elapsed, 20.0, err)


if __name__ == "__main__":
    unittest.main(verbosity=2)
