#!/usr/bin/env python3
"""The gateway benchmark of issue 14: petalsln-gateway's streams against SwarmChat generating
directly on the same swarm, in the same run.

usage: bench_gateway.py [--build DIR] [--gateway BIN] [--runs N] [--ttft-runs N] [--sessions N] [--session-messages N] [--quick]

Starts, on loopback: a DHT node and three priced servers holding the demo model's blocks
0:3, 3:6, 6:8 (devnet wallets), a free gateway and a priced one (L402, 10000 msat per 1000
tokens) that both pay the servers, and in this process a SwarmChat (the Python bindings over
libpetalsln) paying the same servers. Then measures, interleaving the variants run by run:

  (a) decode tokens/s: SwarmChat direct, the free gateway's SSE stream (/v1/completions) and
      its WebSocket (/api/v2/generate, one reply per token), and the priced gateway's SSE;
  (b) time to first token through the free gateway and through the priced one with credit
      already held (bought once, before timing);
  (c) a ten-turn WebSocket conversation's block-tokens (from each turn's receipt) against its
      turns' new tokens times the model's blocks;
  (d) N concurrent SSE sessions on the free gateway: aggregate tokens/s and each session's.

Prints markdown tables; asserts nothing about timings (benchmarks are not tests). --quick runs
a few of everything, to check that the script works. Python 3 standard library plus the
bindings in bindings/python; the client side is as thin as the gateway's callers would be.
"""
import argparse
import base64
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import http.client

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MODEL = os.path.join(ROOT, "examples", "demo-model")
BLOCKS = 8
SPLIT = (("a", "0:3"), ("b", "3:6"), ("c", "6:8"))
# The demo model answers this in 29 tokens, the longest of its repertoire; raw ChatML so all
# three paths run exactly the same prompt ids (greedy: the same tokens too).
PROMPT = "<|im_start|>user\nWhat is L402?<|im_end|>\n<|im_start|>assistant\n"
# Ten short turns (each fits, so the whole conversation stays within the model's 256 positions).
TURNS = ["What is 17 + 25?", "What is 2 + 3?", "Capital of Kenya?", "What is 4 + 4?", "What is 6 x 7?",
         "What is 9 - 5?", "Capital of Peru?", "What is 1 + 5?", "What is 3 x 3?", "What is 7 + 3?"]


def turn_text(question, first):
    return ("" if first else "\n") + f"<|im_start|>user\n{question}<|im_end|>\n<|im_start|>assistant\n"


class Proc:
    """A started program whose first stdout line is `ready k=v ...`."""

    def __init__(self, args, name):
        self.name = name
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.log)
        line = self.proc.stdout.readline().decode()
        if not line.startswith("ready "):
            self.stop()
            self.log.seek(0)
            raise SystemExit(f"{name} did not become ready: {line!r}\n{self.log.read().decode(errors='replace')[-3000:]}")
        self.ready = dict(kv.split("=", 1) for kv in line.split()[1:])

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()


class Gateway(Proc):
    def __init__(self, args, name):
        super().__init__(args, name)
        self.host, port = self.ready["url"][len("http://"):].rsplit(":", 1)
        self.port = int(port)


def connect(gw):
    s = socket.create_connection((gw.host, gw.port), timeout=300)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def sse(gw, path, body, authorization=None):
    """One streamed OpenAI request. Returns {"sent", "first", "end", "tokens", "receipt"}:
    monotonic times of sending, of the first chunk with text and of the chunk that finished the
    choice, and the usage's completion tokens."""
    conn = http.client.HTTPConnection(gw.host, gw.port, timeout=300)
    conn.connect()
    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    headers = {"Content-Type": "application/json"}
    if authorization:
        headers["Authorization"] = authorization
    out = {"first": None, "end": None, "tokens": None, "receipt": None, "times": []}
    out["sent"] = time.perf_counter()
    conn.request("POST", path, json.dumps({**body, "stream": True, "stream_options": {"include_usage": True}}), headers)
    resp = conn.getresponse()
    if resp.status != 200:
        raise RuntimeError(f"{path}: {resp.status} {resp.read()[:500]!r}")
    while True:
        line = resp.readline()
        if not line:
            break
        if not line.startswith(b"data: "):
            continue
        data = line[6:].strip()
        if data == b"[DONE]":
            break
        chunk = json.loads(data)
        now = time.perf_counter()
        for choice in chunk.get("choices", []):
            text = choice.get("text") or (choice.get("delta") or {}).get("content")
            if text:
                out["times"].append(now)
                if out["first"] is None:
                    out["first"] = now
            if choice.get("finish_reason"):
                out["end"] = now
        if chunk.get("usage"):
            out["tokens"] = chunk["usage"]["completion_tokens"]
            out["receipt"] = chunk.get("petalsln_receipt")
    conn.close()
    return out


class WebSocket:
    """A minimal RFC 6455 client (text frames, masked as a client must)."""

    def __init__(self, gw, path="/api/v2/generate"):
        self.sock = connect(gw)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET {path} HTTP/1.1\r\nHost: {gw.host}:{gw.port}\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        self.f = self.sock.makefile("rb")
        status = self.f.readline()
        if b" 101 " not in status:
            raise RuntimeError(f"WebSocket upgrade refused: {status!r}")
        while self.f.readline() not in (b"\r\n", b""):
            pass

    def _frame(self, opcode, data):
        mask = os.urandom(4)
        n = len(data)
        head = bytes([0x80 | opcode])
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + n.to_bytes(2, "big")
        else:
            head += bytes([0x80 | 127]) + n.to_bytes(8, "big")
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        self.sock.sendall(head + mask + masked)

    def send(self, obj):
        self._frame(0x1, json.dumps(obj).encode())

    def recv(self):
        payload = b""
        while True:
            b0, b1 = self.f.read(2)
            n = b1 & 0x7F
            if n == 126:
                n = int.from_bytes(self.f.read(2), "big")
            elif n == 127:
                n = int.from_bytes(self.f.read(8), "big")
            data = self.f.read(n)
            opcode = b0 & 0x0F
            if opcode == 0x8:
                raise EOFError("the gateway closed the WebSocket")
            if opcode == 0x9:
                self._frame(0xA, data)
                continue
            payload += data
            if b0 & 0x80:
                return json.loads(payload)

    def close(self):
        try:
            self._frame(0x8, b"")
        finally:
            self.sock.close()


def ws_open(gw, max_length=256):
    ws = WebSocket(gw)
    ws.send({"type": "open_inference_session", "model": "demo-model", "max_length": max_length})
    reply = ws.recv()
    if not reply.get("ok"):
        raise RuntimeError(f"open_inference_session: {reply}")
    return ws


def ws_generate(ws, inputs, authorization=None):
    """One generate streamed a token per reply (a stop sequence with max_new_tokens 1, as
    chat.petals.dev's page asks). Returns {"sent", "first", "end", "tokens", "reply"}."""
    m = {"type": "generate", "inputs": inputs, "max_new_tokens": 1, "stop_sequence": "<|im_end|>", "do_sample": 0}
    if authorization:
        m["authorization"] = authorization
    out = {"first": None, "tokens": 0, "times": []}
    out["sent"] = time.perf_counter()
    ws.send(m)
    while True:
        r = ws.recv()
        now = time.perf_counter()
        if not r.get("ok"):
            raise RuntimeError(f"generate: {r}")
        out["tokens"] += r["token_count"]
        if r["outputs"]:
            out["times"].append(now)
            if out["first"] is None:
                out["first"] = now
        if r["stop"]:
            out["end"], out["reply"] = now, r
            return out


def decode_rate(run):
    """Tokens after the first over the time from the first token to the end of the stream."""
    span = run["end"] - run["first"]
    return (run["tokens"] - 1) / span if run["tokens"] > 1 and span > 0 else float("nan")


def gaps(run):
    """The times between consecutive tokens as the client saw them (s)."""
    return [b - a for a, b in zip(run["times"], run["times"][1:])]


def wallet_cmd(binary, uri, *args):
    out = subprocess.run([binary, "--wallet", uri, *args], capture_output=True, timeout=60, check=True)
    return json.loads(out.stdout)


def med(xs):
    xs = [x for x in xs if x == x]
    return statistics.median(xs) if xs else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 usage="bench_gateway.py [--build DIR] [--gateway BIN] [--runs N] [--ttft-runs N] [--sessions N] [--session-messages N] [--quick]")
    ap.add_argument("--build", default=os.path.join(ROOT, "build"), help="build directory (default: build)")
    ap.add_argument("--gateway", help="petalsln-gateway binary (default: the build's), e.g. an older build to compare")
    ap.add_argument("--runs", type=int, default=30, help="decode runs per variant (default 30)")
    ap.add_argument("--ttft-runs", type=int, default=40, help="first-token runs per gateway (default 40)")
    ap.add_argument("--sessions", type=int, default=20, help="concurrent sessions (default 20)")
    ap.add_argument("--session-messages", type=int, default=3, help="messages each concurrent session sends (default 3)")
    ap.add_argument("--quick", action="store_true", help="a few runs of everything (checks the script works)")
    a = ap.parse_args()
    if a.quick:
        a.runs, a.ttft_runs, a.sessions, a.session_messages = 2, 3, 3, 1
    b = a.build
    server_bin = os.path.join(b, "examples", "server", "petalsln-server")
    gateway_bin = a.gateway or os.path.join(b, "examples", "gateway", "petalsln-gateway")
    wallet_bin = os.path.join(b, "examples", "wallet", "petalsln-wallet")
    os.environ.setdefault("PETALSLN_LIBRARY", os.path.join(b, "capi", "libpetalsln.so"))
    # libgomp's spinning threads would take the 2 cores from the decoding threads (docs/BENCHMARKS.md).
    os.environ.setdefault("OMP_WAIT_POLICY", "passive")
    sys.path.insert(0, os.path.join(ROOT, "bindings", "python"))
    import petalsln  # noqa: E402  (needs PETALSLN_LIBRARY set first)

    tmp = tempfile.TemporaryDirectory()
    db = os.path.join(tmp.name, "devnet.db")
    uri = lambda account: f"devnet:{db}?account={account}"  # noqa: E731
    for name, sats in (("direct", 100000), ("gw-free", 100000), ("gw-paid", 100000), ("user", 100000),
                       ("a", 0), ("b", 0), ("c", 0)):
        wallet_cmd(wallet_bin, uri(name), "create-account", name, "--fund-sats", str(sats))
    procs = []
    try:
        dht = Proc([server_bin, "--dht-only"], "bootstrap")
        procs.append(dht)
        for name, blocks in SPLIT:
            procs.append(Proc([server_bin, "--model", MODEL, "--blocks", blocks, "--initial-peers", dht.ready["dht"],
                               "--threads", "1", "--price-msat", "1000", "--wallet", uri(name),
                               "--identity", os.path.join(tmp.name, f"{name}.key"), "--public-name", f"server-{name}",
                               "--max-sessions", "64", "--max-sessions-per-peer", "64"], f"server {name}"))
        common = ["--model", MODEL, "--initial-peers", dht.ready["dht"], "--budget-sats", "90000",
                  "--max-new-tokens", "200", "--max-sessions", str(max(24, a.sessions + 4)), "--no-token-store"]
        free = Gateway([gateway_bin, *common, "--wallet", uri("gw-free")], "free gateway")
        procs.append(free)
        paid = Gateway([gateway_bin, *common, "--wallet", uri("gw-paid"), "--price-msat-per-1k-tokens", "10000",
                        "--credit-tokens", "1000000", "--macaroon-key-file", os.path.join(tmp.name, "paid.key")], "priced gateway")
        procs.append(paid)
        direct = petalsln.Chat(MODEL, initial_peers=dht.ready["dht"], wallet=uri("direct"), budget_msat=90_000_000)
        run_benchmarks(a, free, paid, direct, wallet_bin, uri)
        direct.close()
    finally:
        for p in reversed(procs):
            p.stop()
        tmp.cleanup()


def buy_credit(gw, wallet_bin, payer):
    conn = http.client.HTTPConnection(gw.host, gw.port, timeout=120)
    conn.request("POST", "/v1/completions", json.dumps({"model": "demo-model", "prompt": PROMPT, "max_tokens": 4}),
                 {"Content-Type": "application/json"})
    resp = conn.getresponse()
    error = json.loads(resp.read())["error"]
    conn.close()
    assert resp.status == 402, (resp.status, error)
    preimage = wallet_cmd(wallet_bin, payer, "pay", error["invoice"])["preimage"]
    return f"L402 {error['macaroon']}:{preimage}"


def run_benchmarks(a, free, paid, direct, wallet_bin, uri):
    auth = buy_credit(paid, wallet_bin, uri("user"))
    completion = {"model": "demo-model", "prompt": PROMPT, "temperature": 0, "max_tokens": 200}

    def run_direct():
        times = []
        sent = time.perf_counter()
        r = direct.generate(PROMPT, raw=True, max_new_tokens=200, on_token=lambda t: times.append(time.perf_counter()))
        return {"sent": sent, "first": times[0], "end": time.perf_counter(), "tokens": len(r["new_ids"]), "times": times}

    def run_ws(gw, authorization=None):
        ws = ws_open(gw)
        try:
            return ws_generate(ws, PROMPT, authorization)
        finally:
            ws.close()

    variants = [("SwarmChat direct (Python bindings, on_token)", run_direct),
                ("free gateway, SSE `/v1/completions`", lambda: sse(free, "/v1/completions", completion)),
                ("free gateway, WebSocket `/api/v2/generate`", lambda: run_ws(free)),
                ("priced gateway, SSE, credit held", lambda: sse(paid, "/v1/completions", completion, auth))]
    # Warm-up: every path buys its server credit and opens its routes before timing.
    for _, fn in variants:
        fn()
        fn()
    rates = {name: [] for name, _ in variants}
    gap = {name: [] for name, _ in variants}
    round_gap = {name: [] for name, _ in variants}
    tokens = {name: set() for name, _ in variants}
    for i in range(a.runs):
        order = variants[i % len(variants):] + variants[:i % len(variants)]  # rotate who goes first
        for name, fn in order:
            r = fn()
            rates[name].append(decode_rate(r))
            gap[name] += gaps(r)
            round_gap[name].append(med(gaps(r)))
            tokens[name].add(r["tokens"])
    base = med(rates[variants[0][0]])
    d0 = variants[0][0]
    base_gap = med(gap[d0])
    print(f"### (a) Decode tokens/s, the same prompt and greedy tokens on every path ({a.runs} interleaved runs each)\n")
    print("Per run: (tokens − 1) / (first token → end of stream). Per token: 1 / the median time between")
    print("consecutive tokens as the client received them, over all runs (robust to a stalled run).\n")
    print("| path | tokens per run | per run: median tok/s | min | max | / direct | per token: median gap ms | tok/s | / direct |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, _ in variants:
        xs = [x for x in rates[name] if x == x]
        g = med(gap[name])
        print(f"| {name} | {','.join(map(str, sorted(tokens[name])))} | {med(xs):.1f} | {min(xs):.1f} | {max(xs):.1f} | "
              f"{med(xs) / base:.3f} | {g * 1000:.3f} | {1 / g:.1f} | {base_gap / g:.3f} |")
    # The ratio of medians hides the drift of a shared machine over the run; each round's
    # ratio (runs made back to back) is steadier.
    print()
    print("| path | median of per-round ratios to direct: per run tok/s | per-token (median gap) |")
    print("|---|---:|---:|")
    for name, _ in variants[1:]:
        ratios = [x / d for x, d in zip(rates[name], rates[d0])]
        gratios = [d / x for x, d in zip(round_gap[name], round_gap[d0])]
        print(f"| {name} | {med(ratios):.3f} | {med(gratios):.3f} |")

    # (b) Time to first token: a short message, free vs priced with credit held.
    short = {"model": "demo-model", "prompt": PROMPT, "temperature": 0, "max_tokens": 2}
    ttft = {"free": [], "paid": []}
    for i in range(a.ttft_runs):
        pair = [("free", lambda: sse(free, "/v1/completions", short)), ("paid", lambda: sse(paid, "/v1/completions", short, auth))]
        if i % 2:
            pair.reverse()
        for name, fn in pair:
            r = fn()
            ttft[name].append((r["first"] - r["sent"]) * 1000)
    diffs = [p - f for p, f in zip(ttft["paid"], ttft["free"])]
    print(f"\n### (b) Time to first token, SSE `/v1/completions`, {a.ttft_runs} alternating pairs\n")
    print("| gateway | median ms | p10 ms | p90 ms |")
    print("|---|---:|---:|---:|")
    for name, label in (("free", "free"), ("paid", "priced, credit already held (L402 header verified, credit reserved)")):
        xs = sorted(ttft[name])
        print(f"| {label} | {med(xs):.2f} | {xs[len(xs) // 10]:.2f} | {xs[(len(xs) * 9) // 10]:.2f} |")
    print(f"\nAdded by paying: median of paired differences **{med(diffs):.2f} ms**; "
          f"difference of medians {med(ttft['paid']) - med(ttft['free']):.2f} ms.")

    # (c) Ten turns on one WebSocket session: only each turn's new tokens should run.
    ws = ws_open(paid)
    rows = []
    try:
        for k, q in enumerate(TURNS):
            r = ws_generate(ws, turn_text(q, k == 0), auth)["reply"]
            rec = r["receipt"]
            rows.append((k + 1, q, r["prompt_tokens"], rec["generated_tokens"], rec["block_tokens"], rec["charged_tokens"]))
    finally:
        ws.close()
    print("\n### (c) A ten-turn WebSocket conversation on the priced gateway (receipts)\n")
    print("| turn | question | new prompt tokens | generated | block-tokens | charged tokens |")
    print("|---:|---|---:|---:|---:|---:|")
    for row in rows:
        print("| " + " | ".join(map(str, row)) + " |")
    new = sum(r[2] + r[3] for r in rows)
    block_tokens = sum(r[4] for r in rows)
    print(f"\nTotal block-tokens {block_tokens}; the turns' new tokens {new} × {BLOCKS} blocks = {new * BLOCKS}; "
          f"ratio **{block_tokens / (new * BLOCKS):.3f}**. Re-prefilling the history every turn would have cost "
          f"{sum(sum(r[2] + r[3] for r in rows[:k + 1]) for k in range(len(rows))) * BLOCKS} block-tokens.")

    # (d) Concurrent sessions, each its own SSE stream(s) on the free gateway.
    results = [None] * a.sessions
    barrier = threading.Barrier(a.sessions)

    def session(i):
        barrier.wait()
        start = time.perf_counter()
        n, errors = 0, 0
        for _ in range(a.session_messages):
            try:
                n += sse(free, "/v1/completions", completion)["tokens"]
            except Exception:  # noqa: BLE001  (a refused or failed stream is counted, not fatal)
                errors += 1
        results[i] = (start, time.perf_counter(), n, errors)

    threads = [threading.Thread(target=session, args=(i,)) for i in range(a.sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    total = sum(r[2] for r in results)
    wall = max(r[1] for r in results) - min(r[0] for r in results)
    per = sorted(r[2] / (r[1] - r[0]) for r in results)
    single = med(rates[variants[1][0]])
    print(f"\n### (d) {a.sessions} concurrent sessions on the free gateway, {a.session_messages} streamed messages each\n")
    print("| metric | value |")
    print("|---|---:|")
    print(f"| aggregate tok/s (all generated tokens / wall time) | {total / wall:.1f} |")
    print(f"| fastest session tok/s (incl. prefill and first-token wait) | {per[-1]:.2f} |")
    print(f"| slowest session tok/s | {per[0]:.2f} |")
    print(f"| fastest / slowest | {per[-1] / per[0]:.2f} |")
    print(f"| median session tok/s | {med(per):.2f} |")
    print(f"| one stream alone, decode tok/s (from (a)) | {single:.1f} |")
    print(f"| failed messages | {sum(r[3] for r in results)} |")


if __name__ == "__main__":
    main()
