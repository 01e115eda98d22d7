"""Issue 12: forged DHT records against a real DHT.

A bootstrap node and two real servers (blocks 0:4 and 4:8) announce themselves; a hostile node
(petalsln-attack-dht-forger) joins and stores forged values under the model's key: a bad
signature, a record claiming a real server's peer id signed by another key (also in that
server's own value slot, and as a forged withdrawal), an expired record, one issued in the
future, an oversized one, another model's fingerprint, and garbage. Every forged record claims
all 8 blocks at a huge throughput for free, pointing at a trap listener. A petalsln-chat that
joins the DHT through the hostile node must route only through the two real servers, never
touch the trap, and answer exactly.
"""
import os
import socket
import subprocess
import threading
import unittest

import attack_harness as h

FORGER = os.environ.get("PETALSLN_DHT_FORGER")


class Trap:
    """Counts connections to an address no honest record names."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.endpoint = "127.0.0.1:%d" % self.sock.getsockname()[1]
        self.hits = 0
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.hits += 1
            conn.close()

    def close(self):
        self.sock.close()


@unittest.skipUnless(FORGER, "petalsln-attack-dht-forger was not built")
class ForgedDhtRecords(unittest.TestCase):
    def test_chat_routes_only_through_authentic_servers(self):
        procs, forger, trap = [], None, Trap()
        try:
            boot = h.Server(["--dht-only"], name="bootstrap")
            procs.append(boot)
            dht = boot.ready["dht"]
            left = h.Server(h.free_server_args("--initial-peers", dht, blocks="0:4"), name="left")
            procs.append(left)
            right = h.Server(h.free_server_args("--initial-peers", dht, blocks="4:8"), name="right")
            procs.append(right)
            forger = subprocess.Popen([FORGER, "--bootstrap", dht, "--model", "demo-model", "--model-dir", h.DEMO,
                                       "--victim", left.ready["peer"], "--trap", trap.endpoint, "--blocks", "8"],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            line = forger.stdout.readline().decode()
            self.assertTrue(line.startswith("ready "), f"forger: {line!r} {forger.stderr.read().decode()[-2000:] if forger.poll() is not None else ''}")
            ready = dict(kv.split("=", 1) for kv in line.split()[1:])
            h.log("forger:", ready)
            real = {left.ready["peer"]: [0, 4], right.ready["peer"]: [4, 8]}
            for i, case in enumerate(h.reference_cases()[:3]):
                proc = h.run_chat(h.chat_args(case, "--initial-peers", f"{ready['dht']},{dht}"))
                self.assertEqual(proc.returncode, 0, proc.stderr.decode()[-3000:])
                out = h.json.loads(proc.stdout.decode().strip().splitlines()[-1])
                self.assertEqual(out["new_ids"], case["new_ids"], case["question"])
                self.assertEqual(out["text"], case["text"])
                self.assertEqual([(hop["peer"], hop["blocks"]) for hop in out["route"]],
                                 [(p, b) for p, b in real.items()], out["route"])
            self.assertEqual(trap.hits, 0, "a client connected to a forged record's endpoint")
            # Control: an authentic record of the attacker's own key, stored the same way, does
            # reach the client (it tries the trap, fails over, and still answers exactly), so the
            # forged values above were seen and refused, not merely missed.
            forger.stdin.write(b"control\n")
            forger.stdin.flush()
            control = forger.stdout.readline().decode()
            h.log("forger:", control.strip())
            self.assertTrue(control.startswith("control "), control)
            case = h.reference_cases()[0]
            proc = h.run_chat(h.chat_args(case, "--initial-peers", f"{ready['dht']},{dht}"))
            self.assertEqual(proc.returncode, 0, proc.stderr.decode()[-3000:])
            out = h.json.loads(proc.stdout.decode().strip().splitlines()[-1])
            self.assertEqual(out["new_ids"], case["new_ids"])
            self.assertGreater(trap.hits, 0, "the attacker's authentic record never reached the client: the test saw nothing")
            for p in procs:
                p.assert_alive(self)
        finally:
            if forger:
                forger.stdin.close()
                try:
                    forger.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    forger.kill()
                    forger.wait()
                forger.stdout.close()
                forger.stderr.close()
            for p in reversed(procs):
                p.stop()
                p.close()
            trap.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
