"""The paid swarm end to end: priced servers with L402 paywalls, a chat client paying from a
devnet wallet, all processes real, all money simulated (devnet) and accounted to the msat."""
import json
import os
import stat
import subprocess
import tempfile
import unittest

from swarm_harness import Swarm, chat, chat_json

FIXTURES = os.environ["PETALSLN_FIXTURES"]
WALLET = os.environ["PETALSLN_WALLET"]
PRICE = 1000  # msat per 1000 block-tokens


def wallet(uri, *args):
    out = subprocess.run([WALLET, "--wallet", uri, *args], capture_output=True, timeout=60, check=True)
    return json.loads(out.stdout)


class PaidSwarm(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.db = os.path.join(self.tmp.name, "devnet.db")
        self.uri = lambda account: f"devnet:{self.db}?account={account}"
        wallet(self.uri("client"), "create-account", "client", "--fund-sats", "1000")
        for name in ("a", "b", "c"):
            wallet(self.uri(name), "create-account", name, "--fund-sats", "0")
        # petalsln-chat keeps its servers' tokens under the user's data folder by default: here,
        # a folder of this test's own (restored in tearDown).
        self.old_xdg = os.environ.get("XDG_DATA_HOME")
        os.environ["XDG_DATA_HOME"] = os.path.join(self.tmp.name, "xdg")

    def tearDown(self):
        if self.old_xdg is None:
            os.environ.pop("XDG_DATA_HOME", None)
        else:
            os.environ["XDG_DATA_HOME"] = self.old_xdg
        self.tmp.cleanup()

    def balance(self, account):
        return wallet(self.uri(account), "balance")["balance_msat"]

    def start(self, swarm, model, credit, ranges=(("a", "0:3"), ("b", "3:6"), ("c", "6:8"))):
        servers = {}
        for name, blocks in ranges:
            servers[name] = swarm.server(model, blocks, "--price-msat", str(PRICE), "--wallet", self.uri(name),
                                         "--identity", os.path.join(self.tmp.name, f"{name}.key"),
                                         "--credit-block-tokens", str(credit), "--lightning-address", f"{name}@example.com",
                                         name=f"server {name}")
        return servers

    def paid_chat(self, swarm, model, case, budget_sats="100", expect_rc=0, extra=()):
        args = ["--model", model, "--initial-peers", swarm.dht, "--raw", "--prompt", case["text"],
                "--max-new-tokens", str(len(case["new_tokens"])), "--greedy",
                "--repetition-penalty", str(case["repetition_penalty"]),
                "--wallet", self.uri("client"), "--budget-sats", budget_sats, "--json", *extra]
        if expect_rc != 0:
            return chat(*args, expect_rc=expect_rc)
        out = chat(*args).stdout.decode().strip().splitlines()
        return json.loads(out[-1])

    def check_accounts(self, servers, out, client_before):
        paid = {}
        for p in out["payments"]:
            paid[p["peer"]] = paid.get(p["peer"], 0) + p["amount_msat"]
        for name, server in servers.items():
            self.assertEqual(self.balance(name), paid.get(server.ready["peer"], 0), name)
        self.assertEqual(client_before - self.balance("client"), sum(p["amount_msat"] + p["fee_msat"] for p in out["payments"]))
        for w in out["work"]:
            bought = paid.get(w["peer"], 0) * 1000 // PRICE
            self.assertGreaterEqual(bought, w["block_tokens"], "paid credit must cover the work done")
            self.assertTrue(w["lightning_address"].endswith("@example.com"))

    def test_priced_servers_give_the_same_tokens_and_every_msat_is_accounted(self):
        model = os.path.join(FIXTURES, "tiny-smollm2")
        with open(os.path.join(model, "reference.json")) as f:
            case = json.load(f)["greedy"][0]
        with Swarm() as swarm:
            servers = self.start(swarm, model, credit=20000)
            before = self.balance("client")
            out = self.paid_chat(swarm, model, case)
            self.assertEqual(out["new_ids"], case["new_tokens"])
            self.assertEqual(len(out["payments"]), 3)  # one token per server, bought ahead
            self.check_accounts(servers, out, before)
            logs = "".join(s.stderr() for s in servers.values())
        for p in out["payments"]:
            self.assertNotIn(p["preimage"], logs, "a preimage leaked into a server log")
        for name in ("devnet.db", "a.key", "a.key.paywall.db"):
            mode = stat.S_IMODE(os.stat(os.path.join(self.tmp.name, name)).st_mode)
            self.assertEqual(mode, 0o600, name)

    def test_token_store_spends_credit_bought_by_an_earlier_run(self):
        model = os.path.join(FIXTURES, "tiny-smollm2")
        with open(os.path.join(model, "reference.json")) as f:
            case = json.load(f)["greedy"][0]
        store = os.path.join(self.tmp.name, "private", "tokens.sqlite")
        with Swarm() as swarm:
            servers = self.start(swarm, model, credit=20000)
            before = self.balance("client")
            first = self.paid_chat(swarm, model, case, extra=["--token-store", store])
            self.assertEqual(first["new_ids"], case["new_tokens"])
            self.assertEqual(len(first["payments"]), 3)
            self.check_accounts(servers, first, before)
            self.assertEqual(stat.S_IMODE(os.stat(store).st_mode), 0o600)
            self.assertEqual(stat.S_IMODE(os.stat(os.path.dirname(store)).st_mode), 0o700)
            balances = {name: self.balance(name) for name in ("client", "a", "b", "c")}
            # A second process on the same store answers right and pays nothing: every devnet
            # balance is what it was.
            second = self.paid_chat(swarm, model, case, extra=["--token-store", store])
            self.assertEqual(second["new_ids"], case["new_tokens"])
            self.assertEqual(second["payments"], [])
            self.assertEqual({name: self.balance(name) for name in balances}, balances)
            # With the store off it buys its credit again.
            third = self.paid_chat(swarm, model, case, extra=["--no-token-store"])
            self.assertEqual(third["new_ids"], case["new_tokens"])
            self.assertEqual(len(third["payments"]), 3)
            self.assertEqual(balances["client"] - self.balance("client"),
                             sum(p["amount_msat"] + p["fee_msat"] for p in third["payments"]))
            self.assertEqual(len(self.paid_chat(swarm, model, case, extra=["--token-store", ""])["payments"]), 3)
            # The default store: under XDG_DATA_HOME, kept between runs too.
            default = os.path.join(os.environ["XDG_DATA_HOME"], "petalsln", "server-tokens.sqlite")
            self.assertFalse(os.path.exists(default))
            self.assertEqual(len(self.paid_chat(swarm, model, case)["payments"]), 3)
            self.assertEqual(stat.S_IMODE(os.stat(default).st_mode), 0o600)
            self.assertEqual(stat.S_IMODE(os.stat(os.path.dirname(default)).st_mode), 0o700)
            self.assertEqual(self.paid_chat(swarm, model, case)["payments"], [])
            logs = "".join(s.stderr() for s in servers.values())
        for p in first["payments"]:
            self.assertNotIn(p["preimage"], logs, "a preimage leaked into a server log")
        # A file that is not a token store is refused, named, and left as it was.
        with open(store, "wb") as f:
            f.write(b"not a database" * 100)
        proc = self.paid_chat_refused(model, store)
        self.assertIn("token store", proc.stderr.decode())
        with open(store, "rb") as f:
            self.assertEqual(f.read(), b"not a database" * 100)

    def paid_chat_refused(self, model, store):
        with Swarm() as swarm:
            return chat("--model", model, "--initial-peers", swarm.dht, "--prompt", "hi", "--wallet", self.uri("client"),
                        "--token-store", store, "--json", expect_rc=1)

    def test_credit_exhausted_mid_generation_is_paid_and_generation_continues(self):
        model = os.path.join(FIXTURES, "tiny-llama3")
        with open(os.path.join(model, "reference.json")) as f:
            case = json.load(f)["greedy"][1]
        with Swarm() as swarm:
            servers = self.start(swarm, model, credit=50, ranges=(("a", "0:2"), ("b", "2:4"), ("c", "4:6")))
            before = self.balance("client")
            out = self.paid_chat(swarm, model, case)
            self.assertEqual(out["new_ids"], case["new_tokens"])
            per_peer = {}
            for p in out["payments"]:
                per_peer[p["peer"]] = per_peer.get(p["peer"], 0) + 1
            self.assertTrue(all(n > 1 for n in per_peer.values()), per_peer)  # credit ran out and was rebought
            self.check_accounts(servers, out, before)

    def test_over_budget_stops_before_paying_more(self):
        model = os.path.join(FIXTURES, "tiny-smollm2")
        with open(os.path.join(model, "reference.json")) as f:
            case = json.load(f)["greedy"][0]
        with Swarm() as swarm:
            # Each invoice is 20000 block-tokens * 1000 / 1000 = 20000 msat = 20 sat; budget 30 sat.
            self.start(swarm, model, credit=20000)
            before = self.balance("client")
            proc = self.paid_chat(swarm, model, case, budget_sats="30", expect_rc=1)
            self.assertIn("budget", proc.stderr.decode())
            self.assertLessEqual(before - self.balance("client"), 30000)

    def test_no_wallet_means_no_priced_servers(self):
        model = os.path.join(FIXTURES, "tiny-smollm2")
        with Swarm() as swarm:
            self.start(swarm, model, credit=20000)
            proc = chat("--model", model, "--initial-peers", swarm.dht, "--prompt", "hi", "--json", expect_rc=1)
            self.assertIn("no wallet", proc.stderr.decode())


if __name__ == "__main__":
    unittest.main(verbosity=2)
