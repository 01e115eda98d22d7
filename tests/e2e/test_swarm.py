"""The swarm end to end: real servers, a real DHT and real gRPC on loopback."""
import json
import os
import re
import time
import unittest

from swarm_harness import Swarm, chat, chat_json

FIXTURES = os.environ["PETALSLN_FIXTURES"]
DEMO = os.environ["PETALSLN_DEMO_MODEL"]


def reference(path):
    with open(os.path.join(path, "reference.json"), encoding="utf-8") as f:
        return json.load(f)


def greedy_args(case):
    return ["--raw", "--prompt", case["text"], "--max-new-tokens", str(len(case["new_tokens"])), "--greedy",
            "--repetition-penalty", str(case["repetition_penalty"])]


class FixtureSwarm(unittest.TestCase):
    def test_three_overlapping_servers_reproduce_greedy_tokens(self):
        for name, ranges in (("tiny-llama3", ["0:3", "2:5", "3:6"]), ("tiny-smollm2", ["0:4", "3:7", "4:8"])):
            model = os.path.join(FIXTURES, name)
            with self.subTest(model=name), Swarm() as swarm:
                servers = [swarm.server(model, r) for r in ranges]
                for case in reference(model)["greedy"]:
                    out = chat_json("--model", model, "--initial-peers", swarm.dht, *greedy_args(case))
                    self.assertEqual(out["prompt_ids"], case["ids"])
                    self.assertEqual(out["new_ids"], case["new_tokens"])
                    covered = [b for hop in out["route"] for b in range(*hop["blocks"])]
                    self.assertEqual(covered, list(range(len(covered))))
                    self.assertTrue({hop["peer"] for hop in out["route"]} <= {s.ready["peer"] for s in servers})

    def test_static_peer_list(self):
        model = os.path.join(FIXTURES, "tiny-smollm2")
        case = reference(model)["greedy"][1]
        with Swarm() as swarm:
            a = swarm.server(model, "0:5")
            b = swarm.server(model, "5:8")
            out = chat_json("--model", model, "--peers", f"{a.ready['endpoint']},{b.ready['endpoint']}", *greedy_args(case))
            self.assertEqual(out["new_ids"], case["new_tokens"])
            self.assertEqual([h["blocks"] for h in out["route"]], [[0, 5], [5, 8]])


class Failover(unittest.TestCase):
    def test_server_dies_mid_generation(self):
        model = os.path.join(FIXTURES, "tiny-llama3")
        case = reference(model)["greedy"][0]
        with Swarm() as swarm:
            # The fast single-hop server is preferred, then crashes after 10 steps (the prompt
            # plus 9 tokens); the two slower servers cover its blocks.
            doomed = swarm.server(model, "0:6", "--throughput", "100000", "--exit-after-steps", "10", name="doomed")
            left = swarm.server(model, "0:3", "--throughput", "100")
            right = swarm.server(model, "3:6", "--throughput", "100")
            out = chat_json("--model", model, "--initial-peers", swarm.dht, "--timeout", "10", *greedy_args(case))
            self.assertEqual(out["new_ids"], case["new_tokens"])
            self.assertEqual([h["peer"] for h in out["route"]], [left.ready["peer"], right.ready["peer"]])
            self.assertEqual(doomed.proc.wait(timeout=10), 3)  # it really died mid-generation

    def test_missing_blocks_fail_fast_with_their_names(self):
        model = os.path.join(FIXTURES, "tiny-llama3")
        with Swarm() as swarm:
            swarm.server(model, "0:2")
            swarm.server(model, "4:6")
            t0 = time.monotonic()
            proc = chat("--model", model, "--initial-peers", swarm.dht, "--prompt", "hi", "--json", expect_rc=1)
            self.assertLess(time.monotonic() - t0, 20)
            err = proc.stderr.decode()
            self.assertIn("blocks 2-3", err)


def mib_per_block(server):
    """The memory per block a server reported at start-up ("..., 1.23 MiB per block; ...")."""
    found = re.search(r"([0-9.]+) MiB per block", server.stderr())
    assert found, server.stderr()
    return float(found.group(1))


class DemoModelSwarm(unittest.TestCase):
    def ask_every_reference_question(self, swarm, exact_ids=True):
        """Asks each of the demo model's reference questions; returns the route of the last."""
        out = None
        for case in reference(DEMO)["greedy"]:
            out = chat_json("--model", DEMO, "--initial-peers", swarm.dht, "--prompt", case["question"],
                            "--max-new-tokens", "64", "--greedy")
            if exact_ids:
                self.assertEqual(out["new_ids"], case["new_ids"], case["question"])
            self.assertEqual(out["text"], case["text"], case["question"])
            self.assertEqual([h["blocks"] for h in out["route"]], [[0, 3], [3, 6], [6, 8]])
        return out["route"]

    def test_reference_answers_unchanged_through_three_servers(self):
        with Swarm() as swarm:
            for r in ("0:3", "3:6", "6:8"):
                swarm.server(DEMO, r)
            route = self.ask_every_reference_question(swarm)
            self.assertEqual([h["weights"] for h in route], ["f32", "f32", "f32"])

    def test_int8_server_answers_every_reference_question(self):
        # The route's weights come from the servers' signed records: the middle server must
        # announce int8, so this cannot pass on f32 weights by accident.
        with Swarm() as swarm:
            f32 = swarm.server(DEMO, "0:3")
            int8 = swarm.server(DEMO, "3:6", "--quant", "int8", name="int8 server")
            swarm.server(DEMO, "6:8")
            route = self.ask_every_reference_question(swarm, exact_ids=False)
            self.assertEqual([h["weights"] for h in route], ["f32", "int8", "f32"])
            self.assertEqual(route[1]["peer"], int8.ready["peer"])
            # Its start-up report: the format, and blocks really held in under half f32's memory.
            self.assertIn("int8 weights", int8.stderr())
            self.assertLess(2 * mib_per_block(int8), mib_per_block(f32))


class ServerFlags(unittest.TestCase):
    def test_bad_flags_are_usage_errors(self):
        import subprocess
        from swarm_harness import SERVER
        for args, mentions in ((["--model", DEMO, "--blocks", "5:2"], "--blocks"),
                               (["--model", DEMO, "--blocks", "0:9"], "past the model"),
                               (["--model", DEMO], "--blocks"),
                               (["--model", DEMO, "--blocks", "0:2", "--port", "70000"], "--port"),
                               (["--model", DEMO, "--blocks", "0:2", "--dtype", "f64"], "--dtype"),
                               (["--model", DEMO, "--blocks", "0:2", "--dtype", "int8"], "--dtype"),
                               (["--model", DEMO, "--blocks", "0:2", "--quant", "int4"], "--quant"),
                               (["--model", DEMO, "--blocks", "0:2", "--max-batch-sessions", "0"], "--max-batch-sessions"),
                               (["--bogus"], "--bogus")):
            proc = subprocess.run([SERVER, *args], capture_output=True, timeout=60)
            self.assertEqual(proc.returncode, 2, (args, proc.stderr))
            self.assertIn(mentions, proc.stderr.decode())


if __name__ == "__main__":
    unittest.main(verbosity=2)
