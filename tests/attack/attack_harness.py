"""What the attack tests share: real petalsln-server processes on loopback, a hand-made gRPC
client that can send any message (or raw, malformed bytes), a second source address through
a relay, devnet wallets, a wallet made to fail, and the honest-client check.

Binaries come from the environment (set by tests/attack/CMakeLists.txt): PETALSLN_SERVER,
PETALSLN_CHAT, PETALSLN_WALLET, and PETALSLN_DHT_FORGER for the DHT test. The message classes
are generated from proto/ with protoc into a temporary folder at import time. Needs Debian's
python3-grpcio and python3-protobuf (scripts/install-deps.sh).
"""
import atexit
import json
import os
import shutil
import signal
import sqlite3
import struct
import subprocess
import sys
import tempfile
import threading
import time
import queue

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DEMO = os.path.join(REPO, "examples", "demo-model")
SERVER = os.environ["PETALSLN_SERVER"]
CHAT = os.environ["PETALSLN_CHAT"]
WALLET = os.environ.get("PETALSLN_WALLET", "")
HIDDEN = 192  # the demo model's hidden size
BLOCKS = 8    # and its number of blocks

try:
    import grpc
except ImportError:  # pragma: no cover - a setup problem, said plainly
    sys.exit("attack tests need python3-grpcio and python3-protobuf (bash scripts/install-deps.sh)")

# ---- message classes, generated at test time -------------------------------------------------

_PROTO_OUT = tempfile.mkdtemp(prefix="petalsln-attack-proto-")
atexit.register(shutil.rmtree, _PROTO_OUT, True)
_protos = [os.path.join("proto", "petalsln", "v1", f) for f in ("swarm.proto", "blocks.proto")]
subprocess.run(["protoc", f"--python_out={_PROTO_OUT}", "-I", "proto", *_protos], cwd=REPO, check=True, timeout=60)
for d in ("petalsln", os.path.join("petalsln", "v1")):  # regular packages, so an installed
    open(os.path.join(_PROTO_OUT, d, "__init__.py"), "a").close()  # `petalsln` cannot shadow them
sys.path.insert(0, _PROTO_OUT)
from petalsln.v1 import blocks_pb2 as pb  # noqa: E402
from petalsln.v1 import swarm_pb2  # noqa: E402

sys.path.insert(0, os.path.join(REPO, "tests", "wallet-backends"))
import devnet_bridge  # noqa: E402  (the LNbits counterpart's helpers)

from tcp_relay import Relay  # noqa: E402,F401

StatusCode = grpc.StatusCode


def log(*args):
    print("[attack]", *args, file=sys.stderr, flush=True)


# ---- the server, and which of the hardening flags it has --------------------------------------

_help_text = None


def server_help():
    global _help_text
    if _help_text is None:
        _help_text = subprocess.run([SERVER, "--help"], capture_output=True, text=True, timeout=60).stdout
    return _help_text


def limits(**flags):
    """Command-line flags for the server's attack limits (open_timeout=1 -> --open-timeout 1).
    A flag this server does not have is left out and reported: today's build lacks them, and
    the tests then show what the defect does without them."""
    out = []
    for key, value in flags.items():
        flag = "--" + key.replace("_", "-")
        if flag in server_help():
            out += [flag, str(value)]
        else:
            log(f"this petalsln-server has no {flag}; running without it")
    return out


class Server:
    """A started petalsln-server; `ready` holds its ready line's fields, stderr goes to a file."""

    def __init__(self, args, name="server", env=None):
        self.name = name
        self.args = list(args)
        self.log_file = tempfile.NamedTemporaryFile(prefix="petalsln-attack-server-", suffix=".log", delete=False)
        full_env = dict(os.environ, OMP_WAIT_POLICY="passive", **(env or {}))
        self.proc = subprocess.Popen([SERVER, *self.args], stdout=subprocess.PIPE, stderr=self.log_file, env=full_env)
        self.ready = self._wait_ready(60)
        self.endpoint = self.ready["endpoint"]
        self.port = int(self.endpoint.rsplit(":", 1)[1]) if ":" in self.endpoint else None

    def _wait_ready(self, timeout):
        result = {}
        reader = threading.Thread(target=lambda: result.setdefault("line", self.proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout)
        line = result.get("line", b"")
        if not line.startswith(b"ready "):
            self.kill()
            raise AssertionError(f"{self.name} did not become ready: {line!r}\n{self.stderr()}")
        return dict(kv.split("=", 1) for kv in line.decode().split()[1:])

    def alive(self):
        return self.proc.poll() is None

    def returncode(self):
        return self.proc.poll()

    def stderr(self):
        with open(self.log_file.name, "rb") as f:
            return f.read().decode(errors="replace")

    def assert_alive(self, test, when=""):
        rc = self.proc.poll()
        test.assertIsNone(rc, f"{self.name} died {when} with status {rc} "
                              f"({describe_exit(rc)})\n--- its stderr ---\n{self.stderr()[-4000:]}")

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return "did not stop"

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def close(self):
        self.kill()
        self.proc.stdout.close()
        self.log_file.close()
        os.unlink(self.log_file.name)


def describe_exit(rc):
    if rc is None:
        return "running"
    if rc < 0:
        try:
            return f"killed by {signal.Signals(-rc).name}"
        except ValueError:
            return f"killed by signal {-rc}"
    return f"exit {rc}"


def free_server_args(*extra, blocks="0:8"):
    return ["--model", DEMO, "--blocks", blocks, "--threads", "1", "--throughput", "1000", *extra]


# ---- a hand-made gRPC client ------------------------------------------------------------------

def _identity(x):
    return x


def _to_bytes(msg):
    return msg if isinstance(msg, (bytes, bytearray)) else msg.SerializeToString()


class Result:
    """How a call ended: code, details, trailing metadata (dict), and the reply bytes."""

    def __init__(self, code, details, trailing, replies):
        self.code = code
        self.details = details or ""
        self.trailing = trailing
        self.replies = replies

    def __repr__(self):
        return f"{self.code.name if self.code else None}: {self.details!r}"


def _trailing(call):
    try:
        return {k: v for k, v in (call.trailing_metadata() or ())}
    except Exception:  # noqa: BLE001
        return {}


class Blocks:
    """A client of petalsln.v1.Blocks over a plain channel to TARGET (host:port), sending
    exactly the bytes it is given; messages are serialized here, replies left as bytes."""

    def __init__(self, target):
        self.target = target
        self.channel = grpc.insecure_channel(target, options=[("grpc.max_send_message_length", 64 << 20),
                                                              ("grpc.max_receive_message_length", 64 << 20),
                                                              ("grpc.use_local_subchannel_pool", 1)])
        self._info = self.channel.unary_unary("/petalsln.v1.Blocks/Info", _to_bytes, _identity)
        self._forward = self.channel.unary_unary("/petalsln.v1.Blocks/Forward", _to_bytes, _identity)
        self._inference = self.channel.stream_stream("/petalsln.v1.Blocks/Inference", _to_bytes, _identity)

    def close(self):
        self.channel.close()

    def info(self, timeout=10):
        reply = pb.InfoResponse()
        reply.ParseFromString(self._info(b"", timeout=timeout))
        return reply

    def record(self):
        r = swarm_pb2.ServerRecord()
        r.ParseFromString(self.info().record.record)
        return r

    def forward(self, request, metadata=(), timeout=30):
        try:
            reply, call = self._forward.with_call(request, metadata=metadata, timeout=timeout)
            return Result(StatusCode.OK, "", _trailing(call), [reply])
        except grpc.RpcError as e:
            return Result(e.code(), e.details(), _trailing(e), [])

    def exchange(self, messages, metadata=(), timeout=30, keep_open=False):
        """Sends MESSAGES (protobufs or raw bytes) on one Inference stream and reads until the
        server ends it (or, with keep_open, leaves the stream open after the last message until
        the server ends it). Returns a Result with every reply."""
        ended = threading.Event()

        def requests():
            for m in messages:
                yield m
            if keep_open:
                ended.wait(timeout)
        call = self._inference(requests(), metadata=metadata, timeout=timeout)
        replies = []
        try:
            for r in call:
                replies.append(r)
            return Result(call.code(), call.details(), _trailing(call), replies)
        except grpc.RpcError as e:
            return Result(e.code(), e.details(), _trailing(e), replies)
        finally:
            ended.set()

    def stream(self, metadata=(), timeout=60):
        """An Inference stream driven by hand: returns a HeldStream."""
        return HeldStream(self._inference, metadata, timeout)


class HeldStream:
    """An Inference stream the test feeds message by message; `result` is set (and `done`
    signalled) when the server ends it."""

    _END = object()

    def __init__(self, method, metadata, timeout):
        self.q = queue.Queue()
        self.replies = queue.Queue()
        self.done = threading.Event()
        self.result = None
        self.started = time.monotonic()
        self.ended_after = None

        def requests():
            while not self.done.is_set():
                try:
                    m = self.q.get(timeout=0.2)
                except queue.Empty:
                    continue
                if m is HeldStream._END:
                    return
                yield m

        self.call = method(requests(), metadata=metadata, timeout=timeout)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        try:
            for r in self.call:
                self.replies.put(r)
            self.result = Result(self.call.code(), self.call.details(), _trailing(self.call), [])
        except grpc.RpcError as e:
            self.result = Result(e.code(), e.details(), _trailing(e), [])
        except Exception as e:  # noqa: BLE001
            self.result = Result(None, repr(e), {}, [])
        self.ended_after = time.monotonic() - self.started
        self.done.set()

    def send(self, message):
        self.q.put(message)

    def reply(self, timeout=30):
        """The next reply (bytes), or None if the stream ended or nothing came in time."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                return self.replies.get(timeout=0.05)
            except queue.Empty:
                if self.done.is_set() and self.replies.empty():
                    return None
        return None

    def wait(self, timeout):
        self.done.wait(timeout)
        return self.result

    def cancel(self):
        self.q.put(HeldStream._END)
        self.call.cancel()


def tensor(batch=1, seq=1, hidden=HIDDEN, value=0.01):
    t = pb.Tensor(dtype=pb.DTYPE_F32, shape=[batch, seq, hidden])
    t.data = struct.pack("<f", value) * (batch * seq * hidden)
    return t


def forward_request(begin=0, end=BLOCKS, batch=1, seq=1):
    return pb.ForwardRequest(block_begin=begin, block_end=end, hidden=tensor(batch, seq))


def open_request(begin=0, end=BLOCKS, max_length=16, batch=1):
    return pb.InferenceRequest(open=pb.OpenSession(block_begin=begin, block_end=end, max_length=max_length, batch=batch))


def step_request(position=0, seq=1):
    return pb.InferenceRequest(step=pb.Step(hidden=tensor(1, seq), position=position))


def parse_reply(data):
    r = pb.InferenceResponse()
    r.ParseFromString(data)
    return r


def wait_until(predicate, timeout, interval=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


# ---- the honest client ------------------------------------------------------------------------

def reference_cases():
    with open(os.path.join(DEMO, "reference.json"), encoding="utf-8") as f:
        return json.load(f)["greedy"]


def run_chat(args, timeout=240):
    return subprocess.run([CHAT, *args], capture_output=True, timeout=timeout)


def chat_args(case, *discovery, wallet=None, budget_sats=100):
    args = ["--model", DEMO, *discovery, "--prompt", case["question"], "--max-new-tokens", "64", "--greedy",
            "--timeout", "20", "--json"]
    if wallet:
        args += ["--wallet", wallet, "--budget-sats", str(budget_sats)]
    return args


def honest_chat(endpoints, case_index=0, wallet=None, budget_sats=100):
    """Runs a petalsln-chat through ENDPOINTS (--peers) on reference case CASE_INDEX; returns
    "exact" when it answers exactly, else what went wrong."""
    case = reference_cases()[case_index]
    proc = run_chat(chat_args(case, "--peers", ",".join(endpoints), wallet=wallet, budget_sats=budget_sats))
    if proc.returncode != 0:
        return f"exit {proc.returncode}: {proc.stderr.decode(errors='replace')[-1500:]}"
    out = json.loads(proc.stdout.decode().strip().splitlines()[-1])
    if out["new_ids"] != case["new_ids"] or out["text"] != case["text"]:
        return f"answered {out['text']!r} instead of {case['text']!r}"
    return "exact"


def assert_honest_chat(test, endpoints, case_index=0, wallet=None, budget_sats=100):
    """A petalsln-chat through ENDPOINTS (--peers) answers reference case CASE_INDEX exactly."""
    outcome = honest_chat(endpoints, case_index, wallet, budget_sats)
    log("honest chat:", outcome)
    test.assertEqual(outcome, "exact", "the honest chat failed")


# ---- money ------------------------------------------------------------------------------------

def wallet_cli(uri, *args, timeout=60):
    proc = subprocess.run([WALLET, "--wallet", uri, *args], capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"petalsln-wallet {args} failed: {proc.stderr}")
    return json.loads(proc.stdout)


class Devnet:
    """A devnet file in DIRPATH with the given accounts {name: sats}."""

    def __init__(self, dirpath, accounts):
        self.path = os.path.join(dirpath, "devnet.db")
        for name, sats in accounts.items():
            wallet_cli(self.uri(name), "create-account", name, "--fund-sats", str(sats))

    def uri(self, account):
        return f"devnet:{self.path}?account={account}"

    def invoices(self, account=None, where="1"):
        with sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30) as db:
            if account is None:
                return db.execute(f"SELECT COUNT(*) FROM invoices WHERE {where}").fetchone()[0]
            return db.execute(f"SELECT COUNT(*) FROM invoices WHERE account = ? AND {where}", (account,)).fetchone()[0]


class FailingWallet:
    """An LNbits wallet (tests/wallet-backends' loopback counterpart, backed by devnet account
    ACCOUNT) reached through a switchable relay: `down()` makes every connection fail (the
    server's wallet host is unreachable), `error_page()` makes LNbits answer 502 with an HTML
    page, `up()` restores it. `uri` is what the server's --wallet takes."""

    KEY = "attack-invoice-key-0123456789abcdef"

    def __init__(self, dirpath, devnet, account):
        self.cert, key = devnet_bridge.make_tls_cert(dirpath, "lnbits")
        self.proc, ready = devnet_bridge.start_counterpart(
            [sys.executable, os.path.join(REPO, "tests", "wallet-backends", "lnbits_counterpart.py"),
             "--wallet-bin", WALLET, "--devnet-uri", devnet.uri(account), "--cert", self.cert, "--key", key,
             "--admin-key", "attack-admin-key-unused", "--invoice-key", self.KEY])
        self.counterpart_port = ready["port"]
        self.tls = devnet_bridge.client_tls_context(self.cert)
        self.relay = Relay("127.0.0.1", self.counterpart_port, source="127.0.0.1")
        self.uri = f"lnbits://127.0.0.1:{self.relay.port}?key={self.KEY}&cert={self.cert}&timeout=5"

    def down(self):
        self.relay.enabled = False
        self.relay.drop_connections()
        devnet_bridge.set_faults(self.counterpart_port, self.tls)

    def error_page(self):
        self.relay.enabled = True
        devnet_bridge.set_faults(self.counterpart_port, self.tls,
                                 raw_reply={"status": 502, "body": "<html>502 Bad Gateway at wallet.internal</html>"})

    def up(self):
        self.relay.enabled = True
        devnet_bridge.set_faults(self.counterpart_port, self.tls)

    def close(self):
        self.relay.close()
        devnet_bridge.stop_counterpart(self.proc)


def assert_generic_wallet_failure(test, result, secrets):
    """RESULT is the generic 'cannot issue an invoice' refusal and shows none of SECRETS."""
    test.assertEqual(result.code, StatusCode.UNAVAILABLE, result)
    test.assertIn("cannot issue an invoice", result.details, result)
    for s in ("HTTP", "http", *secrets):
        test.assertNotIn(s, result.details, f"the status leaks {s!r}: {result}")
        for k, v in result.trailing.items():
            test.assertNotIn(s, str(v), f"trailing metadata {k} leaks {s!r}")
