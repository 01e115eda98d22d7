"""Helpers for the loopback counterparts that stand in for real Lightning nodes in tests.

A counterpart (a fake LND, Core Lightning or LNbits) speaks the real API's wire format, and
backs it with an account of a devnet file by running the `petalsln-wallet` CLI. So its
invoices are real regtest BOLT11s signed by that account's node key, and its payments really
move devnet balances: a conformance check that "the wallet paid" can be verified from the
other side.

What is here:
  DevnetBridge          one devnet account, through petalsln-wallet
  create_account()      the devnet faucet
  make_tls_cert()       a self-signed certificate for 127.0.0.1/localhost (openssl CLI)
  JsonRequestHandler,
  HttpsJsonServer       a tiny threaded HTTPS server for JSON APIs, with fault injection
                        (slow replies, oversized replies) switched on and off over a control
                        path, so one counterpart process serves every test
  counterpart_arg_parser(),
  serve()               a counterpart's command line (--wallet-bin, --devnet-uri, --cert,
                        --key) and its main loop
  announce_ready(),
  start_counterpart()   the handshake between a test driver and a counterpart process:
                        the counterpart prints one JSON line {"port": N} once it listens

The test drivers' own shared scaffolding is in backend_test_support.py.

Standard library only.
"""
import argparse
import http.server
import json
import os
import socketserver
import ssl
import subprocess
import threading
import time
from urllib.parse import parse_qs, urlsplit


class BridgeError(Exception):
    """petalsln-wallet refused a request; the message is its reason."""


class NotFound(BridgeError):
    """The devnet account knows no such invoice."""


class InvalidInvoice(BridgeError):
    """A BOLT11 string that does not decode (or is not payable on the devnet at all)."""


def _run(wallet_bin, *args, timeout=60):
    return subprocess.run([wallet_bin, *args], capture_output=True, text=True, timeout=timeout)


def _one_json(proc, what):
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or len(lines) != 1:
        raise BridgeError(f"{what}: exit {proc.returncode}: {proc.stderr.strip()}")
    return json.loads(lines[0])


def _reason(stderr):
    """The reason petalsln-wallet gave, without its 'petalsln-wallet: error: ' prefix."""
    text = stderr.strip()
    for prefix in ("petalsln-wallet: error: ", "petalsln-wallet: "):
        if text.startswith(prefix):
            return text[len(prefix):]
    return text


def create_account(wallet_bin, devnet_path, name, fund_sats):
    """The devnet faucet: creates account NAME with FUND_SATS in the devnet file; returns its URI."""
    uri = f"devnet:{devnet_path}?account={name}"
    _one_json(_run(wallet_bin, "create-account", "--fund-sats", str(fund_sats), "--wallet", uri),
              f"create-account {name}")
    return uri


class DevnetBridge:
    """One devnet account, driven through the petalsln-wallet CLI. Thread-safe (each call is
    its own process; the devnet file serialises them)."""

    def __init__(self, wallet_bin, devnet_uri):
        self.wallet_bin = wallet_bin
        self.devnet_uri = devnet_uri

    def _call(self, *args):
        return _run(self.wallet_bin, *args, "--wallet", self.devnet_uri)

    def invoice(self, amount_msat=None, memo="", description_hash_hex=None, expiry_s=3600):
        """Creates an invoice; returns {"bolt11", "payment_hash"} (hex). amount_msat None: any
        amount. Raises BridgeError (e.g. a zero amount or an over-long memo)."""
        args = ["invoice", "--expiry-s", str(expiry_s)]
        args += ["--any-amount"] if amount_msat is None else ["--amount-msat", str(amount_msat)]
        if description_hash_hex is not None:
            args += ["--description-hash", description_hash_hex]
        elif memo:
            args += ["--memo", memo]
        proc = self._call(*args)
        if proc.returncode != 0:
            raise BridgeError(_reason(proc.stderr))
        return _one_json(proc, "invoice")

    def decode(self, bolt11):
        """Returns petalsln-wallet decode's JSON for BOLT11; raises InvalidInvoice."""
        proc = _run(self.wallet_bin, "decode", bolt11)
        if proc.returncode != 0:
            raise InvalidInvoice(_reason(proc.stderr))
        return _one_json(proc, "decode")

    def pay(self, bolt11, amount_msat=None, max_fee_msat=0):
        """Pays BOLT11 from this account. Returns this attempt as lookup_payment() shows
        payments: {"payment_hash", "status" ("succeeded"/"failed"), "preimage" (when
        succeeded), "amount_msat", "fee_msat", "failure_reason"}. Raises InvalidInvoice for an invoice
        that does not decode, BridgeError for anything else refused before an attempt."""
        args = ["pay", bolt11, "--max-fee-msat", str(max_fee_msat)]
        if amount_msat is not None:
            args += ["--amount-msat", str(amount_msat)]
        proc = self._call(*args)
        if proc.returncode == 0:
            paid = _one_json(proc, "pay")
            found = self.lookup_payment(paid["payment_hash"])
            if found is None:
                raise BridgeError("pay succeeded but lookup-payment does not know it")
            return found
        if proc.returncode == 1 and proc.stderr.startswith("petalsln-wallet: payment "):
            # A refused attempt. Not lookup_payment(): for an invoice paid before, that reports
            # the earlier success, while this attempt failed.
            reason = _reason(proc.stderr)
            for prefix in ("payment failed: ", "payment pending: "):
                if reason.startswith(prefix):
                    reason = reason[len(prefix):]
            return {"payment_hash": self.decode(bolt11)["payment_hash"], "status": "failed",
                    "amount_msat": 0, "fee_msat": 0, "failure_reason": reason}
        reason = _reason(proc.stderr)
        if proc.returncode == 1 and "BOLT11" in reason:
            raise InvalidInvoice(reason)
        raise BridgeError(reason)

    def lookup_invoice(self, hash_hex):
        """Returns {"payment_hash", "settled", "expired", "amount_paid_msat", "settled_at"}.
        Raises NotFound if this account issued no invoice with that hash."""
        proc = self._call("lookup-invoice", "--payment-hash", hash_hex)
        if proc.returncode != 0:
            reason = _reason(proc.stderr)
            if "issued no invoice" in reason or "not found" in reason:
                raise NotFound(reason)
            raise BridgeError(reason)
        return _one_json(proc, "lookup-invoice")

    def lookup_payment(self, hash_hex):
        """Returns the payment of that hash as pay() does, or None if never tried."""
        out = _one_json(self._call("lookup-payment", "--payment-hash", hash_hex), "lookup-payment")
        if not out.pop("found"):
            return None
        return out

    def balance_msat(self):
        """The account's balance in millisatoshis."""
        return _one_json(self._call("balance"), "balance")["balance_msat"]


def make_tls_cert(dirpath, name="node", san="IP:127.0.0.1,DNS:localhost"):
    """Makes a self-signed P-256 certificate for SAN (by default 127.0.0.1 and localhost) in
    DIRPATH; returns (cert_path, key_path). The key file is 0600, as a node's would be."""
    cert = os.path.join(dirpath, f"{name}.cert")
    key = os.path.join(dirpath, f"{name}.key")
    cn = san.split(",")[0].split(":", 1)[1]
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-days", "1", "-subj", f"/CN={cn}", "-addext", f"subjectAltName={san}",
         "-keyout", key, "-out", cert],
        check=True, capture_output=True, timeout=60)
    os.chmod(key, 0o600)
    return cert, key


# The path a test driver POSTs fault settings to; no real API has it.
CONTROL_PATH = "/_petalsln_test/faults"


class JsonRequestHandler(http.server.BaseHTTPRequestHandler):
    """Base handler: parses the URL and body, applies the server's faults, then calls
    route(method, path, query, body) which subclasses implement with send_json()/send_bytes().
    An exception in route() becomes a 500 with its text (a counterpart bug shows up loudly)."""

    protocol_version = "HTTP/1.1"
    # Requests larger than this are refused with 413: a counterpart is still a server.
    max_request_bytes = 1 << 20

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def do_PUT(self):
        self._dispatch("PUT")

    def _dispatch(self, method):
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        if length > self.max_request_bytes:
            self.send_json(413, {"error": "request too large"})
            return
        body = self.rfile.read(length) if length else b""
        if url.path == CONTROL_PATH and method == "POST":
            self.server.faults = json.loads(body or b"{}")
            self.send_json(200, self.server.faults)
            return
        faults = self.server.faults
        if faults.get("raw_reply"):
            # {"status": N, "body": TEXT}: a reply the API never documents (a proxy's error page).
            raw = faults["raw_reply"]
            self.send_bytes(int(raw["status"]), raw["body"].encode(), content_type="text/html")
            return
        if faults.get("delay_s"):
            time.sleep(float(faults["delay_s"]))
        if faults.get("oversize_bytes"):
            filler = b'{"padding":"' + b"x" * int(faults["oversize_bytes"]) + b'"}'
            self.send_bytes(200, filler)
            return
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        try:
            self.route(method, url.path, query, body)
        except BrokenPipeError:
            pass
        except Exception as e:  # noqa: BLE001 - a counterpart bug must show, not hang
            self.send_json(500, {"error": f"counterpart bug: {type(e).__name__}: {e}"})

    def route(self, method, path, query, body):
        raise NotImplementedError

    def send_injected(self, fake):
        """Answers with a reply a test injected (a counterpart's `reply` fault): {"status": N,
        "body": OBJ} as JSON, or {"status": N, "raw": TEXT} as text."""
        if "raw" in fake:
            self.send_bytes(fake["status"], fake["raw"].encode(), content_type="text/plain")
        else:
            self.send_json(fake["status"], fake["body"])

    def json_body(self, body):
        """The request body as a JSON object, or None (and a 400 sent) if it is not one."""
        try:
            obj = json.loads(body or b"{}")
        except ValueError:
            obj = None
        if not isinstance(obj, dict):
            self.send_json(400, {"error": "body is not a JSON object"})
            return None
        return obj

    def send_bytes(self, status, data, content_type="application/json", headers=()):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def send_json(self, status, obj, headers=()):
        self.send_bytes(status, json.dumps(obj).encode(), headers=headers)

    def start_stream(self, status=200, content_type="application/json"):
        """Starts a chunked reply (a server-streaming call); follow with stream_line()s and
        end_stream()."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def stream_line(self, obj):
        """Writes one newline-terminated JSON object as its own chunk, flushed at once."""
        data = json.dumps(obj).encode() + b"\n"
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def end_stream(self):
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def log_message(self, fmt, *args):
        if os.environ.get("PETALSLN_COUNTERPART_LOG"):
            super().log_message(fmt, *args)


class HttpsJsonServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    """A threaded HTTPS server on 127.0.0.1 (port 0: any free port). Handlers reach shared
    state through self.server (e.g. self.server.bridge). cert/key None: plain HTTP (for tests
    of the client's http-to-loopback rule)."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, handler_class, cert=None, key=None, port=0):
        super().__init__(("127.0.0.1", port), handler_class)
        self.faults = {}
        self.tls = cert is not None
        if cert is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cert, key)
            # The handshake runs in the handler thread on first read, so a client that stalls
            # or refuses the certificate never blocks the accept loop.
            self.socket = ctx.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)

    @property
    def port(self):
        return self.server_address[1]

    def handle_error(self, request, client_address):
        # Clients that give up early (timeout tests) or refuse our certificate are expected.
        pass

    def start(self):
        """Serves in a daemon thread; returns the port."""
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self.port


def counterpart_arg_parser():
    """The command line every counterpart takes (--wallet-bin, --devnet-uri, --cert, --key);
    add a counterpart's own options to it."""
    ap = argparse.ArgumentParser()
    for name in ("--wallet-bin", "--devnet-uri", "--cert", "--key"):
        ap.add_argument(name, required=True)
    return ap


def serve(server):
    """A counterpart's main loop: starts SERVER, announces its port, and serves until the
    process is terminated."""
    announce_ready(server.start())
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass


def announce_ready(port, **extra):
    """Tells the test driver the counterpart is listening: one JSON line on stdout."""
    print(json.dumps({"port": port, **extra}), flush=True)


def start_counterpart(cmd, timeout=60):
    """Starts a counterpart process and waits for its ready line; returns (process, ready
    dict). Raises RuntimeError with its stderr if it exits first or says nothing in time."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    result = {}

    def read():
        result["line"] = proc.stdout.readline()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout)
    line = result.get("line", "")
    if not line:
        proc.kill()
        _, err = proc.communicate(timeout=10)
        raise RuntimeError(f"counterpart {cmd[:2]} did not start: {err}")
    return proc, json.loads(line)


def stop_counterpart(proc):
    """Stops a counterpart started by start_counterpart()."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    for stream in (proc.stdout, proc.stderr):
        if stream:
            stream.close()


def set_faults(port, tls_context=None, **faults):
    """Switches a counterpart's faults (delay_s=SECONDS, oversize_bytes=N, raw_reply={"status",
    "body"}, or a counterpart's own; none to clear)."""
    import http.client
    if tls_context is not None:
        conn = http.client.HTTPSConnection("127.0.0.1", port, context=tls_context, timeout=30)
    else:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("POST", CONTROL_PATH, body=json.dumps(faults), headers={"Content-Type": "application/json"})
    reply = conn.getresponse()
    reply.read()
    conn.close()
    if reply.status != 200:
        raise RuntimeError(f"setting faults failed: HTTP {reply.status}")


def client_tls_context(cert):
    """A client SSL context trusting exactly CERT (for set_faults and direct checks)."""
    ctx = ssl.create_default_context(cafile=cert)
    return ctx
