"""A loopback stand-in for an LNbits server holding one wallet, for tests.

It speaks the LNbits 1.x REST API's wire format, with the key in the `X-Api-Key` header:
  POST /api/v1/payments            {"out": false, "amount": SATS, "unit": "sat", "memo",
                                    "expiry", "description_hash"} creates an invoice (invoice or
                                    admin key); {"out": true, "bolt11"} pays one (admin key).
                                    201 with the Payment object: checking_id, payment_hash,
                                    wallet_id, amount and fee in msat (negative when outgoing),
                                    bolt11, status "pending"/"success"/"failed", memo, expiry,
                                    preimage, time, created_at, updated_at (ISO 8601), extra.
  GET  /api/v1/payments/fee-reserve?invoice=BOLT11   {"fee_reserve": MSAT}
  GET  /api/v1/payments/{hash}     {"paid", "status", "preimage", "details"} ("details" only
                                    for the key's own wallet); 404 "Payment does not exist."
  GET  /api/v1/wallet              {"name", "balance": MSAT} (+ "id" for the admin key)
Errors are {"detail": TEXT}: 401 "Invoice (or Admin) key required." for a missing or wrong
key, 403 for paying with an invoice key, 400 for a malformed request, and payment or invoice
errors with HTTP 520 and {"detail", "status"}: "Amountless invoices not supported.",
"Insufficient balance.", "Payment already paid." (status "success"), "Payment failed: ...".

The wallet is one devnet account (devnet_bridge.DevnetBridge): invoices are real regtest
BOLT11s and payments really move devnet balances. --reserve-fee-msat sets the fee reserve
LNbits would hold back for routing fees (LNBITS_RESERVE_FEE_MIN; 0 by default).

Test hook (not part of LNbits): the `reply` fault {"reply": {"status": N, "body": OBJ or
"raw": TEXT, "path": PATH, "prefix": PREFIX}} answers requests to exactly PATH and/or to paths
starting with PREFIX (any, without either) with that reply, so a test can feed the client
error bodies and lies.

Run: lnbits_counterpart.py --wallet-bin BIN --devnet-uri URI --admin-key K --invoice-key K
     --cert C --key K [--reserve-fee-msat N]
Prints {"port": N} once listening. Standard library only.
"""
import hmac
import json
import os
import sys
import threading
import time
from datetime import datetime, timezone

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import devnet_bridge  # noqa: E402

WALLET_ID = "c0ffee00c0ffee00c0ffee00c0ffee00"
SITE_TITLE = "LNbits"


def iso(t):
    return datetime.fromtimestamp(t, timezone.utc).isoformat()


class LnbitsServer:
    def __init__(self, bridge, admin_key, invoice_key, reserve_fee_msat):
        self.bridge = bridge
        self.admin_key = admin_key
        self.invoice_key = invoice_key
        self.reserve_fee_msat = reserve_fee_msat
        self.lock = threading.Lock()
        self.payments = {}  # payment_hash -> Payment dict (one wallet, no self-payments)

    def key_type(self, key):
        if key is None:
            return None
        if hmac.compare_digest(key.encode(), self.admin_key.encode()):
            return "admin"
        if hmac.compare_digest(key.encode(), self.invoice_key.encode()):
            return "invoice"
        return None

    def _payment(self, hash_hex, bolt11, amount, fee, status, memo, expires_at, preimage=None):
        now = time.time()
        return {"checking_id": hash_hex if amount < 0 else "internal_" + hash_hex, "payment_hash": hash_hex,
                "wallet_id": WALLET_ID, "amount": amount, "fee": fee, "bolt11": bolt11, "status": status,
                "memo": memo, "expiry": iso(expires_at), "webhook": None, "webhook_status": None,
                "preimage": preimage, "tag": None, "extension": None, "time": iso(now), "created_at": iso(now),
                "updated_at": iso(now), "extra": {}}

    def refresh(self, p):
        """Brings an incoming invoice's status up to date from the devnet (LNbits' listener)."""
        if p["amount"] > 0 and p["status"] == "pending":
            state = self.bridge.lookup_invoice(p["payment_hash"])
            if state["settled"]:
                p["status"] = "success"
                p["updated_at"] = iso(state["settled_at"])
        return p


class Handler(devnet_bridge.JsonRequestHandler):
    def detail(self, status, text, payment_status=None):
        body = {"detail": text}
        if payment_status is not None:
            body["status"] = payment_status
        self.send_json(status, body)

    def route(self, method, path, query, body):
        srv = self.server.lnbits
        fake = self.server.faults.get("reply")
        if fake and path == fake.get("path", path) and path.startswith(fake.get("prefix", "")):
            self.send_injected(fake)
            return
        key = srv.key_type(self.headers.get("X-Api-Key"))
        if path == "/api/v1/payments" and method == "POST":
            if key is None:
                return self.detail(401, "Invoice (or Admin) key required.")
            data = self.json_body(body)
            if data is None:
                return
            if data.get("out", True):
                if key != "admin":
                    return self.detail(403, "Invoice (or Admin) key required.")
                if not data.get("bolt11"):
                    return self.detail(400, "Missing BOLT11 invoice")
                return self.pay(srv, data["bolt11"])
            return self.create_invoice(srv, data)
        if path == "/api/v1/payments/fee-reserve" and method == "GET":
            try:
                decoded = srv.bridge.decode(query.get("invoice", ""))
            except devnet_bridge.InvalidInvoice as e:
                return self.detail(500, str(e))
            if not decoded["amount_msat"]:
                return self.detail(400, "Invoice has no amount.")
            return self.send_json(200, {"fee_reserve": srv.reserve_fee_msat})
        if path.startswith("/api/v1/payments/") and method == "GET":
            return self.lookup(srv, path[len("/api/v1/payments/"):], key)
        if path == "/api/v1/wallet" and method == "GET":
            if key is None:
                return self.detail(401, "Invoice (or Admin) key required.")
            out = {"name": "petalsln test wallet", "balance": srv.bridge.balance_msat()}
            if key == "admin":
                out["id"] = WALLET_ID
            return self.send_json(200, out)
        self.detail(404, "Not Found")

    def create_invoice(self, srv, data):
        unit = data.get("unit", "sat")
        if unit != "sat":
            return self.detail(400, "The provided unit is not supported")
        amount = data.get("amount")
        if amount is not None and (not isinstance(amount, (int, float)) or isinstance(amount, bool) or amount < 0):
            return self.detail(400, "amount: ensure this value is greater than or equal to 0")
        if not amount or not amount > 0:
            return self.detail(520, "Amountless invoices not supported.", "failed")
        sats = int(amount)
        memo = data.get("memo") or SITE_TITLE
        dh = data.get("description_hash")
        if dh:
            try:
                bytes.fromhex(dh)
            except ValueError:
                return self.detail(400, "'description_hash' must be a valid hex string")
            memo = ""
        expiry = data.get("expiry") or 3600
        try:
            made = srv.bridge.invoice(sats * 1000, memo=memo[:640], description_hash_hex=dh or None, expiry_s=expiry)
        except devnet_bridge.BridgeError as e:
            return self.detail(520, str(e), "pending")
        decoded = srv.bridge.decode(made["bolt11"])
        p = srv._payment(made["payment_hash"], made["bolt11"], sats * 1000, 0, "pending", memo, decoded["expires_at"])
        with srv.lock:
            srv.payments[made["payment_hash"]] = p
        self.send_json(201, p)

    def pay(self, srv, bolt11):
        try:
            decoded = srv.bridge.decode(bolt11)
        except devnet_bridge.InvalidInvoice:
            return self.detail(520, "Bolt11 decoding failed.", "failed")
        amount = decoded["amount_msat"]
        if not amount:
            return self.detail(520, "Amountless invoices not supported.", "failed")
        hash_hex = decoded["payment_hash"]
        with srv.lock:
            old = srv.payments.get(hash_hex)
        if old is not None and old["amount"] < 0:
            if old["status"] == "pending":
                return self.detail(520, "Payment is still pending.", "pending")
            if old["status"] == "success":
                return self.detail(520, "Payment already paid.", "success")
            return self.detail(520, "Payment is failed node, retrying is not possible.", "failed")
        balance = srv.bridge.balance_msat()
        if balance < amount:
            return self.detail(520, "Insufficient balance.", "failed")
        if balance < amount + srv.reserve_fee_msat:
            return self.detail(520, f"You must reserve at least ({round(srv.reserve_fee_msat / 1000)}  sat) to cover "
                                    "potential routing fees.", "failed")
        p = srv._payment(hash_hex, bolt11, -amount, -srv.reserve_fee_msat, "pending", decoded.get("description", ""),
                         decoded["expires_at"])
        with srv.lock:
            srv.payments[hash_hex] = p
        result = srv.bridge.pay(bolt11, None, srv.reserve_fee_msat)
        if result["status"] != "succeeded":
            p["status"] = "failed"
            return self.detail(520, f"Payment failed: {result['failure_reason']}", "failed")
        p.update({"status": "success", "preimage": result["preimage"], "fee": -result["fee_msat"],
                  "updated_at": iso(time.time())})
        self.send_json(201, p)

    def lookup(self, srv, hash_hex, key):
        with srv.lock:
            p = srv.payments.get(hash_hex)
        if p is None:
            return self.detail(404, "Payment does not exist.")
        p = srv.refresh(p)
        mine = key is not None
        if p["status"] == "success":
            out = {"paid": True, "preimage": p["preimage"]}
        elif p["status"] == "failed":
            out = {"paid": False, "status": "failed"}
        else:
            out = {"paid": False, "status": "pending", "preimage": p["preimage"]}
        if mine:
            out["details"] = p
        self.send_json(200, out)


def main():
    ap = devnet_bridge.counterpart_arg_parser()
    ap.add_argument("--admin-key", required=True)
    ap.add_argument("--invoice-key", required=True)
    ap.add_argument("--reserve-fee-msat", type=int, default=0)
    args = ap.parse_args()
    server = devnet_bridge.HttpsJsonServer(Handler, args.cert, args.key)
    server.lnbits = LnbitsServer(devnet_bridge.DevnetBridge(args.wallet_bin, args.devnet_uri), args.admin_key,
                                 args.invoice_key, args.reserve_fee_msat)
    devnet_bridge.serve(server)


if __name__ == "__main__":
    main()
