"""A loopback stand-in for LND's REST proxy, backed by a devnet account.

Speaks the subset petalsln's LND backend uses, in LND's wire format (grpc-gateway JSON:
bytes fields base64, int64/uint64 fields as decimal strings, enums as their names, errors as
{"code", "message", "details"} with the gRPC code's HTTP status, server-streaming replies as
newline-delimited {"result": ...} / {"error": ...} objects):

  POST /v1/invoices               AddInvoice      {value_msat|value, memo, description_hash, expiry}
  GET  /v1/invoice/{r_hash_str}   LookupInvoice   (hex hash)
  POST /v2/router/send            SendPaymentV2   {payment_request, amt_msat, fee_limit_msat,
                                                   timeout_seconds, no_inflight_updates}
  GET  /v2/router/track/{hash}    TrackPaymentV2  (base64 hash)
  GET  /v1/balance/channels       ChannelBalance

Every call needs the macaroon (hex) in Grpc-Metadata-macaroon; as in LND, a missing or wrong
one is gRPC Unknown (HTTP 500) with LND's own texts. Besides devnet_bridge's faults, this
counterpart knows {"track_in_flight": true} (TrackPaymentV2 reports IN_FLIGHT and holds the
stream open, as for a payment whose HTLCs are unresolved).

usage: lnd_counterpart.py --wallet-bin BIN --devnet-uri URI --cert C --key K --macaroon FILE
Writes a fresh random macaroon to FILE (0600) and prints {"port": N} once listening.
"""
import base64
import binascii
import json
import os
import re
import sys
import threading
import time
from urllib.parse import unquote

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import devnet_bridge  # noqa: E402

# gRPC code -> HTTP status, as grpc-gateway maps them.
HTTP_OF = {2: 500, 3: 400, 5: 404, 6: 409, 7: 403, 16: 401}


def status(code, message):
    return {"code": code, "message": message, "details": []}


def b64(raw):
    return base64.b64encode(raw).decode()


def b64_bytes(text):
    """A bytes field or path parameter: standard base64, else URL-safe (grpc-gateway's order)."""
    for decode in (base64.b64decode, base64.urlsafe_b64decode):
        try:
            return decode(text.encode()) if decode is base64.urlsafe_b64decode else decode(text, validate=True)
        except (binascii.Error, ValueError):
            continue
    raise ValueError("not base64")


def int_field(body, key):
    """An int64 field: grpc-gateway accepts a JSON number or a decimal string."""
    v = body.get(key, 0)
    if isinstance(v, bool) or not isinstance(v, (int, str)):
        raise ValueError(f"{key}: not an integer")
    return int(v)


class LndHandler(devnet_bridge.JsonRequestHandler):
    def grpc_error(self, code, message):
        self.send_json(HTTP_OF.get(code, 500), status(code, message))

    def stream_error(self, code, message):
        # An error before any update: grpc-gateway sends the mapped status with the chunk.
        self.send_json(HTTP_OF.get(code, 500), {"error": status(code, message)})

    def authorised(self):
        got = self.headers.get("Grpc-Metadata-macaroon")
        if got is None:
            self.grpc_error(2, "expected 1 macaroon, got 0")
            return False
        if got.lower() != self.server.macaroon_hex:
            self.grpc_error(2, "verification failed: signature mismatch after caveat verification")
            return False
        return True

    def route(self, method, path, query, body):
        if not self.authorised():
            return
        bridge = self.server.bridge
        if method == "POST" and path == "/v1/invoices":
            return self.add_invoice(bridge, body)
        m = re.fullmatch(r"/v1/invoice/([^/]*)", path)
        if method == "GET" and m:
            return self.lookup_invoice(bridge, m.group(1))
        if method == "POST" and path == "/v2/router/send":
            return self.send_payment(bridge, body)
        m = re.fullmatch(r"/v2/router/track/([^/]*)", path)
        if method == "GET" and m:
            return self.track_payment(bridge, m.group(1), query)
        if method == "GET" and path == "/v1/balance/channels":
            msat = bridge.balance_msat()
            zero = {"sat": "0", "msat": "0"}
            return self.send_json(200, {
                "balance": str(msat // 1000), "pending_open_balance": "0",
                "local_balance": {"sat": str(msat // 1000), "msat": str(msat)}, "remote_balance": zero,
                "unsettled_local_balance": zero, "unsettled_remote_balance": zero,
                "pending_open_local_balance": zero, "pending_open_remote_balance": zero})
        self.send_json(404, status(5, "Not Found"))

    def add_invoice(self, bridge, raw):
        body = self.json_body(raw)
        if body is None:
            return
        try:
            value_msat = int_field(body, "value_msat") or int_field(body, "value") * 1000
            expiry = int_field(body, "expiry") or 86400  # LND's default expiry is one day
            dh = b64_bytes(body["description_hash"]) if body.get("description_hash") else None
        except (ValueError, KeyError) as e:
            return self.grpc_error(3, f"invalid request: {e}")
        if dh is not None and len(dh) != 32:
            return self.grpc_error(2, "description hash is 32 bytes, got " + str(len(dh)))
        memo = body.get("memo", "")
        if len(memo) > 639:
            return self.grpc_error(2, "memo too large: 640 bytes (maxlen=639)")
        try:
            inv = bridge.invoice(value_msat or None, memo, dh.hex() if dh else None, expiry)
        except devnet_bridge.BridgeError as e:
            return self.grpc_error(2, str(e))
        decoded = bridge.decode(inv["bolt11"])
        with self.server.lock:
            self.server.add_index += 1
            index = self.server.add_index
            self.server.invoices[inv["payment_hash"]] = {"memo": "" if dh else memo, "bolt11": inv["bolt11"],
                                                         "value_msat": value_msat, "decoded": decoded,
                                                         "add_index": index}
        self.send_json(200, {"r_hash": b64(bytes.fromhex(inv["payment_hash"])), "payment_request": inv["bolt11"],
                             "add_index": str(index),
                             "payment_addr": b64(bytes.fromhex(decoded["payment_secret"]))})

    def lookup_invoice(self, bridge, hash_hex):
        if not re.fullmatch(r"[0-9a-fA-F]{64}", hash_hex):
            return self.grpc_error(3, "invalid hash: " + hash_hex[:80])
        try:
            got = bridge.lookup_invoice(hash_hex.lower())
        except devnet_bridge.NotFound:
            return self.grpc_error(5, "unable to locate invoice")
        known = self.server.invoices.get(hash_hex.lower())
        decoded = known["decoded"] if known else {"timestamp": 0, "expiry": 3600}
        value_msat = known["value_msat"] if known else 0
        state = "SETTLED" if got["settled"] else ("CANCELED" if got["expired"] else "OPEN")
        self.send_json(200, {
            "memo": known["memo"] if known else "", "r_preimage": "", "r_hash": b64(bytes.fromhex(hash_hex)),
            "value": str(value_msat // 1000), "value_msat": str(value_msat), "settled": got["settled"],
            "creation_date": str(decoded["timestamp"]), "settle_date": str(got["settled_at"]),
            "payment_request": known["bolt11"] if known else "", "description_hash": "",
            "expiry": str(decoded["expiry"]), "cltv_expiry": "18", "private": False,
            "add_index": str(known["add_index"]) if known else "0", "settle_index": "0",
            "amt_paid": str(got["amount_paid_msat"]), "amt_paid_sat": str(got["amount_paid_msat"] // 1000),
            "amt_paid_msat": str(got["amount_paid_msat"]), "state": state, "htlcs": [], "features": {},
            "is_keysend": False, "payment_addr": "", "is_amp": False})

    @staticmethod
    def payment(p, bolt11, status_name, failure="FAILURE_REASON_NONE"):
        amount = p.get("amount_msat", 0)
        fee = p.get("fee_msat", 0)
        return {"payment_hash": p["payment_hash"], "value": str(amount // 1000), "creation_date": str(int(time.time())),
                "fee": str(fee // 1000), "payment_preimage": p.get("preimage", "0" * 64),
                "value_sat": str(amount // 1000), "value_msat": str(amount), "payment_request": bolt11,
                "status": status_name, "fee_sat": str(fee // 1000), "fee_msat": str(fee),
                "creation_time_ns": str(time.time_ns()), "htlcs": [], "payment_index": "1",
                "failure_reason": failure}

    def send_payment(self, bridge, raw):
        body = self.json_body(raw)
        if body is None:
            return
        bolt11 = body.get("payment_request", "")
        try:
            amt_msat = int_field(body, "amt_msat") or int_field(body, "amt") * 1000
            fee_limit = int_field(body, "fee_limit_msat") or int_field(body, "fee_limit_sat") * 1000
            if int_field(body, "timeout_seconds") <= 0:
                return self.stream_error(2, "timeout_seconds must be specified")
        except ValueError as e:
            return self.stream_error(3, f"invalid request: {e}")
        try:
            decoded = bridge.decode(bolt11)
        except devnet_bridge.InvalidInvoice as e:
            return self.stream_error(2, f"invalid payment request: {e}")
        if decoded["expires_at"] <= time.time():
            return self.stream_error(2, "invoice expired. Valid until " +
                                     time.strftime("%Y-%m-%d %H:%M:%S +0000 UTC", time.gmtime(decoded["expires_at"])))
        if decoded["amount_msat"] is None and not amt_msat:
            return self.stream_error(2, "amount must be specified when paying a zero amount invoice")
        if decoded["amount_msat"] is not None and amt_msat:
            return self.stream_error(2, "amount must not be specified when paying a non-zero amount invoice")
        earlier = bridge.lookup_payment(decoded["payment_hash"])
        if earlier is not None and earlier["status"] == "succeeded":
            return self.stream_error(6, "invoice is already paid")
        result = bridge.pay(bolt11, amt_msat or None, fee_limit)
        self.start_stream()
        if not body.get("no_inflight_updates"):
            self.stream_line({"result": self.payment({**result, "preimage": "0" * 64}, bolt11, "IN_FLIGHT")})
        if result["status"] == "succeeded":
            self.stream_line({"result": self.payment(result, bolt11, "SUCCEEDED")})
        else:
            reason = result.get("failure_reason", "")
            failure = ("FAILURE_REASON_INSUFFICIENT_BALANCE" if "insufficient balance" in reason
                       else "FAILURE_REASON_INCORRECT_PAYMENT_DETAILS" if any(w in reason for w in ("unknown", "expired", "already paid"))
                       else "FAILURE_REASON_NO_ROUTE")
            self.stream_line({"result": self.payment({**result, "amount_msat": 0, "fee_msat": 0}, bolt11, "FAILED",
                                                     failure)})
        self.end_stream()

    def track_payment(self, bridge, hash_text, query):
        try:
            raw = b64_bytes(unquote(hash_text))
        except ValueError:
            raw = b""
        if len(raw) != 32:
            return self.stream_error(3, "invalid hash")
        found = bridge.lookup_payment(raw.hex())
        if found is None:
            return self.stream_error(5, "payment isn't initiated")
        self.start_stream()
        if self.server.faults.get("track_in_flight"):
            self.stream_line({"result": self.payment({**found, "preimage": "0" * 64}, "", "IN_FLIGHT")})
            time.sleep(60)  # the HTLCs never resolve; the client must not wait for the stream's end
            return
        if found["status"] == "succeeded":
            self.stream_line({"result": self.payment(found, "", "SUCCEEDED")})
        else:
            failure = ("FAILURE_REASON_INSUFFICIENT_BALANCE" if "insufficient" in found["failure_reason"]
                       else "FAILURE_REASON_NO_ROUTE")
            self.stream_line({"result": self.payment(found, "", "FAILED", failure)})
        self.end_stream()


def main():
    ap = devnet_bridge.counterpart_arg_parser()
    ap.add_argument("--macaroon", required=True)
    args = ap.parse_args()
    macaroon = os.urandom(96)
    fd = os.open(args.macaroon, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(macaroon)
    server = devnet_bridge.HttpsJsonServer(LndHandler, args.cert, args.key)
    server.bridge = devnet_bridge.DevnetBridge(args.wallet_bin, args.devnet_uri)
    server.macaroon_hex = macaroon.hex()
    server.invoices = {}
    server.add_index = 0
    server.lock = threading.Lock()
    devnet_bridge.serve(server)


if __name__ == "__main__":
    main()
