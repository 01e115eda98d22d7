"""petalsln-gateway keeps the L402 tokens it bought from priced servers in --token-store, so
server credit it paid for and did not use survives a restart: a restarted gateway on the same
store answers right and pays the swarm nothing (every devnet balance unchanged); with
--no-token-store it buys again. One priced server on the demo model, real processes on
loopback, all money devnet."""
import http.client
import json
import os
import signal
import stat
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
from swarm_harness import Swarm  # noqa: E402

GATEWAY = os.environ["PETALSLN_GATEWAY"]
WALLET = os.environ["PETALSLN_WALLET"]
MODEL = os.environ["PETALSLN_DEMO_MODEL"]
QUESTION = "What is 17 + 25?"
ANSWER = "17 + 25 = 42."


def wallet(uri, *args):
    out = subprocess.run([WALLET, "--wallet", uri, *args], capture_output=True, timeout=60, check=True)
    return json.loads(out.stdout)


def ask(url):
    """Asks @p url's gateway the question; returns the answer's text."""
    host, port = url[len("http://"):].rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=120)
    body = {"model": "demo-model", "messages": [{"role": "user", "content": QUESTION}], "temperature": 0, "max_tokens": 20}
    conn.request("POST", "/v1/chat/completions", body=json.dumps(body), headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    data = json.loads(resp.read())
    conn.close()
    assert resp.status == 200, data
    return data["choices"][0]["message"]["content"]


def run_gateway(args, question_count=1):
    """Starts a gateway with @p args, asks the question, stops it; returns the answers."""
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen([GATEWAY, *args], stdout=subprocess.PIPE, stderr=log)
    try:
        line = proc.stdout.readline().decode()
        assert line.startswith("ready "), line
        url = dict(kv.split("=", 1) for kv in line.split()[1:])["url"]
        answers = [ask(url) for _ in range(question_count)]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        return answers
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        log.close()


class GatewayTokenStore(unittest.TestCase):
    def test_server_credit_survives_a_restart(self):
        with tempfile.TemporaryDirectory() as tmp:
            db = os.path.join(tmp, "devnet.db")
            uri = lambda account: f"devnet:{db}?account={account}"  # noqa: E731
            wallet(uri("gateway"), "create-account", "gateway", "--fund-sats", "1000")
            wallet(uri("server"), "create-account", "server", "--fund-sats", "0")
            balances = lambda: {a: wallet(uri(a), "balance")["balance_msat"] for a in ("gateway", "server")}  # noqa: E731
            store = os.path.join(tmp, "state", "server-tokens.sqlite")
            with Swarm() as swarm:
                swarm.server(MODEL, "0:8", "--price-msat", "1000", "--wallet", uri("server"),
                             "--identity", os.path.join(tmp, "server.key"), "--credit-block-tokens", "20000", name="server")
                base = ["--model", MODEL, "--initial-peers", swarm.dht, "--wallet", uri("gateway"), "--budget-sats", "100"]
                self.assertEqual(run_gateway(base + ["--token-store", store]), [ANSWER])
                paid = balances()
                self.assertEqual(paid["server"], 20000)  # one token: 20000 block-tokens at 1000 msat per 1000
                self.assertEqual(stat.S_IMODE(os.stat(store).st_mode), 0o600)
                self.assertEqual(stat.S_IMODE(os.stat(os.path.dirname(store)).st_mode), 0o700)
                # Restarted on the same store: the credit bought before serves, nothing is paid.
                self.assertEqual(run_gateway(base + ["--token-store", store], question_count=2), [ANSWER, ANSWER])
                self.assertEqual(balances(), paid)
                # With the store off, the gateway buys its credit again.
                self.assertEqual(run_gateway(base + ["--no-token-store"]), [ANSWER])
                self.assertEqual(balances()["server"], 40000)


if __name__ == "__main__":
    unittest.main(verbosity=2)
