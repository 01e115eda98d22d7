"""A loopback stand-in for a Core Lightning node's REST plugin (clnrest), for tests.

It speaks clnrest's wire format: `POST /v1/<method>` with the JSON-RPC parameters as a JSON
object body and the rune in the `Rune` header; a result comes back as JSON with HTTP 201; a
JSON-RPC error as {"code", "message"} with HTTP 500; a missing rune is HTTP 403 and a rune
that does not check out HTTP 401 (both {"code": 1501, "message": "Not authorized: ..."}); an
unknown method HTTP 404 with code -32601. Amounts are integer millisatoshis, hashes and
preimages lower-case hex, times Unix seconds, as Core Lightning writes them since v23.

Methods: invoice, pay, listinvoices, listpays, listfunds, backed by one devnet account
through devnet_bridge.DevnetBridge, so invoices are real regtest BOLT11s and payments really
move devnet balances. pay reports the documented error codes: 203 (permanent failure at the
destination), 205 (no route: here, not enough balance), 207 (invoice expired), -32602 (bad
parameters). Paying a hash this node already paid returns the earlier success, as Core
Lightning does.

Test hook (not part of clnrest): the `reply` fault, {"reply": {"status": N, "body": OBJ or
"raw": TEXT, "method": NAME}}, makes calls of that method (any, without "method") answer
with that reply instead, so a test can feed the client error bodies and lies.

Run: cln_counterpart.py --wallet-bin BIN --devnet-uri URI --rune RUNE --cert C --key K
Prints {"port": N} once listening. Standard library only.
"""
import hashlib
import hmac
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import devnet_bridge  # noqa: E402

# Channel states clnrest's listfunds reports; only CHANNELD_NORMAL channels can spend.
NORMAL = "CHANNELD_NORMAL"


class RpcError(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


def _require(params, name, kind):
    if name not in params:
        raise RpcError(-32602, f"missing required parameter: {name}")
    value = params[name]
    if kind is int and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
        raise RpcError(-32602, f"{name}: should be an unsigned 64 bit integer: invalid token '{json.dumps(value)}'")
    if kind is str and not isinstance(value, str):
        raise RpcError(-32602, f"{name}: should be a string: invalid token '{json.dumps(value)}'")
    return value


def _check_known(params, known):
    for name in params:
        if name not in known:
            raise RpcError(-32602, f"unknown parameter: {name}, this may be caused by a failure to autodetect "
                                   "key=value-style parameters")


class ClnNode:
    """The node's state: its devnet account and what it issued and paid through this API."""

    def __init__(self, bridge, rune):
        self.bridge = bridge
        self.rune = rune
        self.lock = threading.Lock()
        self.invoices = {}   # label -> record
        self.pays = []       # attempts, oldest first
        self.created_index = 0

    def invoice(self, p):
        _check_known(p, {"amount_msat", "label", "description", "expiry", "deschashonly", "fallbacks", "preimage",
                         "exposeprivatechannels", "cltv"})
        amount = p.get("amount_msat")
        if amount is None:
            raise RpcError(-32602, "missing required parameter: amount_msat")
        if amount == "any":
            amount = None
        elif not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
            raise RpcError(-32602, f"amount_msat|msatoshi: should be positive msat or 'any': invalid token "
                                   f"'{json.dumps(amount)}'")
        label = _require(p, "label", str)
        description = _require(p, "description", str)
        expiry = p.get("expiry", 604800)
        if not isinstance(expiry, int) or isinstance(expiry, bool) or expiry <= 0:
            raise RpcError(-32602, "expiry: should be an unsigned 64 bit integer")
        with self.lock:
            if label in self.invoices:
                raise RpcError(900, "Duplicate label '" + label + "'")
        try:
            if p.get("deschashonly"):
                digest = hashlib.sha256(description.encode()).hexdigest()
                made = self.bridge.invoice(amount, description_hash_hex=digest, expiry_s=expiry)
            else:
                made = self.bridge.invoice(amount, memo=description, expiry_s=expiry)
        except devnet_bridge.BridgeError as e:
            raise RpcError(-32602, f"description: {e}")
        decoded = self.bridge.decode(made["bolt11"])
        with self.lock:
            self.created_index += 1
            record = {"label": label, "bolt11": made["bolt11"], "payment_hash": made["payment_hash"],
                      "amount_msat": amount, "description": description, "expires_at": decoded["expires_at"],
                      "created_index": self.created_index}
            self.invoices[label] = record
        return {"payment_hash": made["payment_hash"], "expires_at": decoded["expires_at"], "bolt11": made["bolt11"],
                "payment_secret": decoded["payment_secret"], "created_index": record["created_index"]}

    def listinvoices(self, p):
        _check_known(p, {"label", "invstring", "payment_hash", "offer_id", "index", "start", "limit"})
        wanted = p.get("payment_hash")
        out = []
        with self.lock:
            records = list(self.invoices.values())
        for r in records:
            if wanted is not None and r["payment_hash"] != wanted:
                continue
            if "label" in p and r["label"] != p["label"]:
                continue
            state = self.bridge.lookup_invoice(r["payment_hash"])
            entry = {"label": r["label"], "bolt11": r["bolt11"], "payment_hash": r["payment_hash"],
                     "status": "paid" if state["settled"] else ("expired" if state["expired"] else "unpaid"),
                     "description": r["description"], "expires_at": r["expires_at"],
                     "created_index": r["created_index"]}
            if r["amount_msat"] is not None:
                entry["amount_msat"] = r["amount_msat"]
            if state["settled"]:
                entry.update({"pay_index": r["created_index"], "amount_received_msat": state["amount_paid_msat"],
                              "paid_at": state["settled_at"], "updated_index": r["created_index"]})
            out.append(entry)
        return {"invoices": out}

    def pay(self, p):
        _check_known(p, {"bolt11", "amount_msat", "label", "riskfactor", "maxfeepercent", "retry_for", "maxdelay",
                         "exemptfee", "localinvreqid", "exclude", "maxfee", "description", "partial_msat"})
        bolt11 = _require(p, "bolt11", str)
        amount = p.get("amount_msat")
        if amount is not None:
            _require(p, "amount_msat", int)
        maxfee = _require(p, "maxfee", int) if "maxfee" in p else None
        if maxfee is not None and ("maxfeepercent" in p or "exemptfee" in p):
            raise RpcError(-32602, "Cannot specify both maxfee and maxfeepercent/exemptfee")
        try:
            decoded = self.bridge.decode(bolt11)
        except devnet_bridge.InvalidInvoice as e:
            raise RpcError(-32602, f"Invalid bolt11: {e}")
        if decoded["amount_msat"] is None and amount is None:
            raise RpcError(-32602, "amount_msat parameter required")
        if decoded["amount_msat"] is not None and amount is not None:
            raise RpcError(-32602, "amount_msat parameter unnecessary")
        hash_hex = decoded["payment_hash"]
        with self.lock:
            done = [x for x in self.pays if x["payment_hash"] == hash_hex and x["status"] == "complete"]
        if done:
            return self._pay_result(done[-1])
        result = self.bridge.pay(bolt11, amount, maxfee if maxfee is not None else 5_000_000)
        now = int(time.time())
        attempt = {"payment_hash": hash_hex, "bolt11": bolt11, "destination": decoded["payee"], "created_at": now,
                   "amount_msat": amount if amount is not None else decoded["amount_msat"]}
        if result["status"] == "succeeded":
            attempt.update({"status": "complete", "completed_at": now, "preimage": result["preimage"],
                            "amount_sent_msat": result["amount_msat"] + result["fee_msat"]})
            with self.lock:
                self.pays.append(attempt)
            return self._pay_result(attempt)
        attempt.update({"status": "failed", "amount_sent_msat": 0})
        with self.lock:
            self.pays.append(attempt)
        reason = result["failure_reason"]
        if "expired" in reason:
            raise RpcError(207, "Invoice expired")
        if "balance" in reason:
            raise RpcError(205, "Ran out of routes to try after 1 attempt: see `paystatus`")
        raise RpcError(203, "failed: WIRE_INCORRECT_OR_UNKNOWN_PAYMENT_DETAILS (reply from remote)")

    @staticmethod
    def _pay_result(a):
        return {"destination": a["destination"], "payment_hash": a["payment_hash"], "created_at": a["created_at"],
                "parts": 1, "amount_msat": a["amount_msat"], "amount_sent_msat": a["amount_sent_msat"],
                "payment_preimage": a["preimage"], "status": "complete"}

    def listpays(self, p):
        _check_known(p, {"bolt11", "payment_hash", "status", "index", "start", "limit"})
        with self.lock:
            attempts = list(self.pays)
        out = []
        for a in attempts:
            if "payment_hash" in p and a["payment_hash"] != p["payment_hash"]:
                continue
            if "bolt11" in p and a["bolt11"] != p["bolt11"]:
                continue
            if "status" in p and a["status"] != p["status"]:
                continue
            entry = {"payment_hash": a["payment_hash"], "status": a["status"], "destination": a["destination"],
                     "created_at": a["created_at"], "bolt11": a["bolt11"], "amount_msat": a["amount_msat"],
                     "number_of_parts": 1}
            if a["status"] == "complete":
                entry.update({"completed_at": a["completed_at"], "preimage": a["preimage"],
                              "amount_sent_msat": a["amount_sent_msat"]})
            out.append(entry)
        return {"pays": out}

    def listfunds(self, p):
        _check_known(p, {"spent"})
        balance = self.bridge.balance_msat()
        # A closed channel and an on-chain output: money the node has, but cannot spend over
        # Lightning. A client that counts them reports the wrong balance.
        return {
            "outputs": [{"txid": "11" * 32, "output": 0, "amount_msat": 250_000_000, "scriptpubkey": "0014" + "22" * 20,
                         "address": "bcrt1qyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zv3p4q6", "status": "confirmed",
                         "reserved": False, "blockheight": 101}],
            "channels": [
                {"peer_id": "02" + "33" * 32, "connected": True, "state": NORMAL, "channel_id": "44" * 32,
                 "short_channel_id": "103x1x0", "our_amount_msat": balance, "amount_msat": balance + 10_000_000_000,
                 "funding_txid": "55" * 32, "funding_output": 0},
                {"peer_id": "02" + "66" * 32, "connected": False, "state": "ONCHAIN", "channel_id": "77" * 32,
                 "our_amount_msat": 7_000_000, "amount_msat": 9_000_000, "funding_txid": "88" * 32,
                 "funding_output": 1},
            ],
        }


class Handler(devnet_bridge.JsonRequestHandler):
    def route(self, method, path, query, body):
        node = self.server.node
        if not path.startswith("/v1/") or "/" in path[4:] or method != "POST":
            self.send_json(404, {"code": -32601, "message": "Path not registered"})
            return
        name = path[4:]
        params = json.loads(body or b"{}") if body else {}
        rune = self.headers.get("Rune")
        if rune is None:
            self.send_json(403, {"code": 1501, "message": "Not authorized: Missing rune"})
            return
        if not hmac.compare_digest(rune.encode(), node.rune.encode()):
            self.send_json(401, {"code": 1501, "message": "Not authorized: Not derived from master"})
            return
        fake = self.server.faults.get("reply")
        if fake and fake.get("method", name) == name:
            self.send_injected(fake)
            return
        handler = {"invoice": node.invoice, "pay": node.pay, "listinvoices": node.listinvoices,
                   "listpays": node.listpays, "listfunds": node.listfunds}.get(name)
        if handler is None:
            self.send_json(404, {"code": -32601, "message": f"Unknown command '{name}'"})
            return
        if not isinstance(params, dict):
            self.send_json(500, {"code": -32602, "message": "params must be an object"})
            return
        try:
            self.send_json(201, handler(params))
        except RpcError as e:
            self.send_json(500, {"code": e.code, "message": e.message})


def main():
    ap = devnet_bridge.counterpart_arg_parser()
    ap.add_argument("--rune", required=True)
    args = ap.parse_args()
    server = devnet_bridge.HttpsJsonServer(Handler, args.cert, args.key)
    server.node = ClnNode(devnet_bridge.DevnetBridge(args.wallet_bin, args.devnet_uri), args.rune)
    devnet_bridge.serve(server)


if __name__ == "__main__":
    main()
