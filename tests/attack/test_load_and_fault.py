"""Issue 12: a load-and-fault test. A 3-server swarm on the demo model with spare capacity (each
server holds every block), 30 concurrent chats while one server is killed (SIGKILL) and another
is restarted (SIGTERM, then started again on the same port with the same identity): every chat
answers exactly as the local model does (petalsln-chat --local).
"""
import concurrent.futures
import json
import os
import signal
import tempfile
import time
import unittest

import attack_harness as h

CHATS = 30


def many_limits():
    # Every chat comes from 127.0.0.1: the per-address limits must not be what is tested here.
    return ["--max-sessions", "64", *h.limits(max_streams_per_peer=64, max_sessions_per_peer=64, max_unpaid_per_peer=64)]


class LoadAndFault(unittest.TestCase):
    def test_thirty_chats_survive_a_kill_and_a_restart(self):
        cases = h.reference_cases()
        local = {}
        for case in cases:
            proc = h.run_chat(h.chat_args(case, "--local"))
            self.assertEqual(proc.returncode, 0, proc.stderr)
            local[case["question"]] = json.loads(proc.stdout.decode().strip().splitlines()[-1])
            self.assertEqual(local[case["question"]]["new_ids"], case["new_ids"])
        procs = []
        with tempfile.TemporaryDirectory() as tmp:
            try:
                boot = h.Server(["--dht-only"], name="bootstrap")
                procs.append(boot)
                dht = boot.ready["dht"]
                servers = []
                for name in ("a", "b", "c"):
                    s = h.Server(h.free_server_args("--initial-peers", dht, "--identity", os.path.join(tmp, f"{name}.key"),
                                                    *many_limits()), name=f"server {name}")
                    procs.append(s)
                    servers.append(s)
                victim, restarted, survivor = servers
                t0 = time.monotonic()
                with concurrent.futures.ThreadPoolExecutor(CHATS) as pool:
                    futures = [pool.submit(h.run_chat, h.chat_args(cases[i % len(cases)], "--initial-peers", dht), 300)
                               for i in range(CHATS)]
                    time.sleep(1.5)
                    victim.kill()
                    h.log(f"killed {victim.name} at {time.monotonic() - t0:.1f} s")
                    time.sleep(1.0)
                    self.assertEqual(restarted.stop(signal.SIGTERM), 0)
                    h.log(f"stopped {restarted.name} at {time.monotonic() - t0:.1f} s")
                    again = h.Server(restarted.args[:-len(many_limits())] + ["--port", str(restarted.port), *many_limits()],
                                     name="server b again")
                    procs.append(again)
                    h.log(f"restarted {restarted.name} at {time.monotonic() - t0:.1f} s")
                    results = [f.result(timeout=400) for f in futures]
                h.log(f"{CHATS} chats done in {time.monotonic() - t0:.1f} s")
                failures = []
                for i, proc in enumerate(results):
                    case = cases[i % len(cases)]
                    if proc.returncode != 0:
                        failures.append((i, case["question"], proc.returncode, proc.stderr.decode()[-500:]))
                        continue
                    out = json.loads(proc.stdout.decode().strip().splitlines()[-1])
                    want = local[case["question"]]
                    if out["new_ids"] != want["new_ids"] or out["text"] != want["text"]:
                        failures.append((i, case["question"], out["text"], want["text"]))
                for f in failures:
                    h.log("chat failed:", f)
                self.assertEqual(len(failures), 0, f"{len(failures)} of {CHATS} chats differ from the local answer")
                survivor.assert_alive(self)
                again.assert_alive(self)
                self.assertEqual(again.ready["peer"], restarted.ready["peer"])
            finally:
                for p in reversed(procs):
                    p.stop()
                    p.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
