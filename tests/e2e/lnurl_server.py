"""A LUD-06/16 Lightning address service on loopback for end-to-end tests: each
/.well-known/lnurlp/<name> is a devnet account <name>, whose callback issues real devnet
invoices (made by petalsln-wallet) with the metadata's hash, or misbehaves on request.

Standard library only; used by tests/payout, tests/gateway and scripts/demo.sh (run as a
program it serves until stopped: see main()).
"""
import hashlib
import http.server
import json
import subprocess
import threading
import time
import urllib.parse


class LnurlServer:
    """LUD-06/16 on 127.0.0.1. modes[name] picks how /.well-known/lnurlp/<name> behaves."""

    def __init__(self, devnet_path, wallet, min_sendable_msat=1000):
        self.devnet_path = devnet_path
        self.wallet = wallet
        self.min_sendable_msat = min_sendable_msat
        self.modes = {}
        self.invoice_requests = []
        # Mode "hold": the pay request waits for `release`, after setting `held`; mode
        # "hold_callback" does the same in the invoice callback, before making the invoice.
        self.held = threading.Event()
        self.release = threading.Event()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def reply(self, status, body):
                data = body if isinstance(body, bytes) else body.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def do_GET(self):
                url = urllib.parse.urlparse(self.path)
                parts = url.path.strip("/").split("/")
                if len(parts) == 3 and parts[:2] == [".well-known", "lnurlp"]:
                    return outer.pay_request(self, parts[2])
                if len(parts) == 2 and parts[0] == "cb":
                    query = urllib.parse.parse_qs(url.query)
                    return outer.callback(self, parts[1], int(query["amount"][0]))
                self.reply(404, '{"status":"ERROR","reason":"not found"}')

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def address(self, name):
        return f"{name}@127.0.0.1:{self.port}"

    @staticmethod
    def metadata(name):
        return json.dumps([["text/plain", f"payout to {name}"], ["text/identifier", f"{name}@petalsln.test"]])

    def pay_request(self, h, name):
        mode = self.modes.get(name, "ok")
        body = {"tag": "payRequest", "callback": f"http://127.0.0.1:{self.port}/cb/{name}",
                "minSendable": self.min_sendable_msat, "maxSendable": 1_000_000_000, "metadata": self.metadata(name)}
        if mode == "error_status":
            return h.reply(200, '{"status":"ERROR","reason":"payouts are closed for maintenance"}')
        if mode == "malformed":
            return h.reply(200, '{"tag": "payRequest", "callback": ')
        if mode == "slow":
            time.sleep(4)
        if mode == "hold":
            self.held.set()
            self.release.wait(120)
        if mode == "oversized":
            body["padding"] = "x" * (256 * 1024)
        if mode == "wrong_tag":
            body["tag"] = "withdrawRequest"
        if mode == "remote_callback":
            body["callback"] = "http://payouts.example.com/cb/" + name
        if mode == "out_of_range":
            body["minSendable"] = 500_000_000
        if mode == "http_500":
            return h.reply(500, "internal error")
        h.reply(200, json.dumps(body))

    def callback(self, h, name, amount):
        mode = self.modes.get(name, "ok")
        self.invoice_requests.append((name, amount))
        if mode == "hold_callback":
            self.held.set()
            self.release.wait(120)
        if mode == "callback_error":
            return h.reply(200, '{"status":"ERROR","reason":"amount not accepted today"}')
        description = self.metadata(name) if mode != "wrong_hash" else "something else"
        invoice_amount = amount + 1000 if mode == "wrong_amount" else amount
        proc = subprocess.run([self.wallet, "invoice", "--wallet", f"devnet:{self.devnet_path}?account={name}",
                               "--amount-msat", str(invoice_amount), "--description-hash",
                               hashlib.sha256(description.encode()).hexdigest()],
                              capture_output=True, text=True, timeout=60)
        if proc.returncode != 0:
            return h.reply(500, json.dumps({"status": "ERROR", "reason": proc.stderr}))
        h.reply(200, json.dumps({"pr": json.loads(proc.stdout)["bolt11"], "routes": []}))


def main():
    """Serves until SIGINT or SIGTERM; prints `ready port=N` once listening (scripts/demo.sh)."""
    import argparse
    import signal
    import sys

    parser = argparse.ArgumentParser(description="A devnet-backed Lightning address service on 127.0.0.1 (demos and tests only).")
    parser.add_argument("--devnet", required=True, help="the devnet file whose accounts the addresses pay")
    parser.add_argument("--wallet", required=True, help="the petalsln-wallet program (makes the invoices)")
    parser.add_argument("--min-sendable-msat", type=int, default=1, help="smallest payment accepted (default 1)")
    args = parser.parse_args()
    if args.min_sendable_msat < 1:
        parser.error("--min-sendable-msat must be at least 1")
    server = LnurlServer(args.devnet, args.wallet, args.min_sendable_msat)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    print(f"ready port={server.port}", flush=True)
    stop.wait()
    server.close()
    sys.exit(0)


if __name__ == "__main__":
    main()
