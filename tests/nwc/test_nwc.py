"""Nostr Wallet Connect (NIP-47) end to end, against code nobody in petalsln wrote.

A relay (relay.js) and a NIP-47 wallet service (nwc_service.js) built on npm nostr-tools and
ws run as real processes on loopback; the service is backed by a devnet account through the
petalsln-wallet CLI, so invoices are real devnet BOLT11s and payments move devnet balances.
petalsln's side is NwcWallet, driven through petalsln-nwc-helper (short timeouts) and through
petalsln-wallet --wallet nostr+walletconnect://... (open_wallet). The service runs once with
NIP-44 v2 and once with NIP-04 only. Misbehaving services behind a hostile relay (which
forwards forgeries unchecked) show that NwcWallet's own checks reject them.

Also: petalsln's WebSocket client against a `ws` server (ws_server.js), over ws:// and over
wss:// with throwaway certificates made by the openssl CLI, and its event ids/signatures
against nostr-tools' verifyEvent. Run by CTest with PETALSLN_NODE, PETALSLN_OPENSSL,
PETALSLN_NWC_HELPER and PETALSLN_WALLET set. Standard library only.
"""
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import unittest

from node_process import HERE, NODE, Proc

HELPER = os.environ["PETALSLN_NWC_HELPER"]
WALLET = os.environ["PETALSLN_WALLET"]
OPENSSL = os.environ.get("PETALSLN_OPENSSL") or shutil.which("openssl")



def helper(*args, timeout=60):
    """Runs petalsln-nwc-helper; returns (exit code, list of JSON lines)."""
    proc = subprocess.run([HELPER, *args], capture_output=True, text=True, timeout=timeout)
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    return proc.returncode, lines


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class WebSocketClient(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Proc("ws_server.js")
        cls.base = f"ws://127.0.0.1:{cls.server.info['port']}"

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def ws(self, path, *messages, max_bytes=1 << 20, wait_ms=300):
        return helper("ws", self.base + path, str(max_bytes), str(wait_ms), *messages)

    def test_echo_text_and_unicode(self):
        rc, out = self.ws("/echo", "hello", "ünïcödé 🦄", "x" * 300)
        self.assertEqual(rc, 0, out)
        self.assertEqual(out, [{"text": "hello"}, {"text": "ünïcödé 🦄"}, {"text": "x" * 300}, {"timeout": True}])

    def test_long_message_uses_64_bit_length(self):
        rc, out = self.ws("/big?n=70000", max_bytes=100000)
        self.assertEqual(rc, 0, out)
        self.assertEqual(len(out[0]["text"]), 70000)

    def test_message_over_limit_is_refused(self):
        rc, out = self.ws("/big?n=5000", max_bytes=1000)
        self.assertEqual(rc, 1)
        self.assertEqual(out[-1]["error"], "invalid_format")
        self.assertIn("exceeds 1000 bytes", out[-1]["message"])

    def test_fragments_are_joined_and_pings_between_them_answered(self):
        rc, out = self.ws("/fragments", "abcdefghij")
        self.assertEqual(rc, 0, out)
        self.assertEqual(out, [{"text": "frag-abcdefghij"}, {"timeout": True}])

    def test_server_ping_gets_a_pong(self):
        rc, out = self.ws("/ping")
        self.assertEqual(out[0], {"text": "pong:hello-ping"})

    def test_client_ping(self):
        rc, out = self.ws("/echo", "--ping")
        self.assertEqual(out[0], {"text": "got-ping:are you there"})

    def test_binary(self):
        rc, out = self.ws("/binary", "AB")
        self.assertEqual(out[0], {"binary": "4142"})

    def test_close_by_server(self):
        rc, out = self.ws("/close", "x")
        self.assertEqual(rc, 1)
        self.assertEqual(out[-1]["error"], "io")
        self.assertIn("code 4001", out[-1]["message"])

    def test_invalid_utf8_text_is_refused(self):
        rc, out = self.ws("/badutf8")
        self.assertEqual(rc, 1)
        self.assertEqual(out[-1]["error"], "invalid_format")
        self.assertIn("UTF-8", out[-1]["message"])

    def test_wrong_accept_header_is_refused(self):
        rc, out = self.ws("/badaccept")
        self.assertEqual((rc, out[-1]["error"]), (1, "io"))
        self.assertIn("Sec-WebSocket-Accept", out[-1]["message"])

    def test_refused_upgrade(self):
        rc, out = self.ws("/refuse")
        self.assertEqual((rc, out[-1]["error"]), (1, "io"))
        self.assertIn("403", out[-1]["message"])

    def test_silent_server_times_out(self):
        rc, out = self.ws("/silent", "hello")
        self.assertEqual((rc, out), (0, [{"timeout": True}]))

    def test_nothing_listening(self):
        rc, out = helper("ws", f"ws://127.0.0.1:{free_port()}/", "1000", "100")
        self.assertEqual((rc, out[-1]["error"]), (1, "io"))

    def test_bad_urls(self):
        for url in ["http://127.0.0.1/", "ws://", "ws://127.0.0.1:0/", "ws://127.0.0.1:70000/", "ws://user@127.0.0.1/",
                    "ws://127.0.0.1/a b", "127.0.0.1:80"]:
            rc, out = helper("ws", url, "1000", "100")
            self.assertEqual((rc, out[-1]["error"]), (1, "invalid_argument"), url)


def make_cert(dirpath, name, san):
    """A throwaway self-signed P-256 certificate for SAN (an openssl subjectAltName value) in
    DIRPATH; returns (cert_path, key_path). The key file is 0600."""
    cert, key = os.path.join(dirpath, f"{name}.pem"), os.path.join(dirpath, f"{name}.key")
    subprocess.run([OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-days", "1", "-subj", f"/CN={name}", "-addext", f"subjectAltName={san}",
                    "-keyout", key, "-out", cert], check=True, capture_output=True, timeout=60)
    os.chmod(key, 0o600)
    return cert, key


@unittest.skipUnless(OPENSSL, "the openssl CLI is not installed (scripts/install-deps.sh installs it)")
class SecureWebSocketClient(unittest.TestCase):
    """wss://: the certificate must chain to the trusted CAs (a CA file, or the system store)
    and name the host the URL names (IP address or DNS name)."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="petalsln-wss-")
        cls.cert, key = make_cert(cls.dir, "loopback", "IP:127.0.0.1,DNS:localhost")
        # Trusted when given as the CA file, but issued for another host.
        cls.other_cert, other_key = make_cert(cls.dir, "elsewhere", "IP:192.0.2.7,DNS:elsewhere.invalid")
        cls.servers = []
        cls.port = cls.start(cls.cert, key)
        cls.other_port = cls.start(cls.other_cert, other_key)

    @classmethod
    def start(cls, cert, key):
        server = Proc("ws_server.js", "--tls", cert, key)
        cls.servers.append(server)
        return server.info["port"]

    @classmethod
    def tearDownClass(cls):
        for s in cls.servers:
            s.stop()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def ws(self, url, *args):
        return helper("ws", url, str(1 << 20), "300", *args)

    def refused(self, url, *args):
        rc, out = self.ws(url, *args)
        self.assertEqual((rc, out[-1].get("error")), (1, "io"), out)
        return out[-1]["message"]

    def test_trusted_certificate_by_ip_and_by_name(self):
        for host in ("127.0.0.1", "localhost"):
            with self.subTest(host=host):
                rc, out = self.ws(f"wss://{host}:{self.port}/echo", f"--ca={self.cert}", "over tls", "ünï")
                self.assertEqual(rc, 0, out)
                self.assertEqual(out, [{"text": "over tls"}, {"text": "ünï"}, {"timeout": True}])

    def test_large_message_over_tls_spans_records(self):
        # More than one 16 KiB TLS record: the client must keep reading what OpenSSL buffered.
        rc, out = helper("ws", f"wss://127.0.0.1:{self.port}/big?n=70000", "100000", "300", f"--ca={self.cert}")
        self.assertEqual(rc, 0, out)
        self.assertEqual(len(out[0]["text"]), 70000)

    def test_system_store_does_not_trust_a_self_signed_certificate(self):
        message = self.refused(f"wss://127.0.0.1:{self.port}/echo", "hi")
        self.assertIn("TLS certificate not trusted", message)
        self.assertRegex(message, re.compile("self.signed", re.I))

    def test_certificate_for_another_host_is_refused(self):
        # The certificate chains to the trusted CA file, so only the name check can refuse it.
        for host, mismatch in (("127.0.0.1", "IP address mismatch"), ("localhost", "hostname mismatch")):
            with self.subTest(host=host):
                message = self.refused(f"wss://{host}:{self.other_port}/echo", f"--ca={self.other_cert}", "hi")
                self.assertIn("TLS certificate not trusted", message)
                self.assertIn(mismatch, message)

    def test_certificate_not_in_the_ca_file_is_refused(self):
        message = self.refused(f"wss://127.0.0.1:{self.port}/echo", f"--ca={self.other_cert}", "hi")
        self.assertIn("TLS certificate not trusted", message)

    def test_missing_ca_file(self):
        message = self.refused(f"wss://127.0.0.1:{self.port}/echo", f"--ca={self.dir}/absent.pem")
        self.assertIn("cannot load trusted certificates", message)

    def test_plain_websocket_server_is_not_tls(self):
        plain = Proc("ws_server.js")
        try:
            message = self.refused(f"wss://127.0.0.1:{plain.info['port']}/echo", f"--ca={self.cert}", "hi")
            self.assertIn("TLS handshake failed", message)
        finally:
            plain.stop()


class EventsAgainstNostrTools(unittest.TestCase):
    SECRET = "67dea2ed018072d675f5415ecfaed7d2597555e202d85b3d65ea4e58d2d92ffa"
    CONTENT = 'line1\nline2 "quoted" back\\slash\ttab\rcr\bbs\fff ünï 🦄 </script>'

    def node(self, script, *args):
        proc = subprocess.run([NODE, "-e", script, *args], cwd=HERE, capture_output=True, text=True, timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        return json.loads(proc.stdout)

    def test_petalsln_events_verify_in_nostr_tools(self):
        rc, out = helper("sign", self.SECRET, self.CONTENT)
        self.assertEqual(rc, 0, out)
        ev = out[0]
        res = self.node("const p=require('nostr-tools/pure');const e=JSON.parse(process.argv[1]);"
                        "console.log(JSON.stringify({ok:p.verifyEvent(e),id:p.getEventHash(e),pk:p.getPublicKey(Buffer.from(process.argv[2],'hex'))}))",
                        json.dumps(ev), self.SECRET)
        self.assertEqual(res, {"ok": True, "id": ev["id"], "pk": ev["pubkey"]})

    def test_nostr_tools_events_verify_in_petalsln(self):
        ev = self.node("const p=require('nostr-tools/pure');"
                       "console.log(JSON.stringify(p.finalizeEvent({kind:1,created_at:1700000001,tags:[['e','x\\n\"y']],"
                       "content:process.argv[1]},p.generateSecretKey())))", self.CONTENT)
        self.assertEqual(helper("verify", json.dumps(ev)), (0, [{"valid": True}]))
        for field, value in [("content", ev["content"] + "!"), ("created_at", ev["created_at"] + 1),
                             ("sig", ev["sig"][:-2] + ("00" if ev["sig"][-2:] != "00" else "01"))]:
            bad = dict(ev, **{field: value})
            self.assertEqual(helper("verify", json.dumps(bad)), (0, [{"valid": False}]), field)
        rc, out = helper("verify", json.dumps(dict(ev, id=ev["id"].upper())))
        self.assertEqual((rc, out[0]["error"]), (1, "invalid_format"))


class Devnet:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="petalsln-nwc-")
        self.path = os.path.join(self.dir, "devnet.db")

    def uri(self, account):
        return f"devnet:{self.path}?account={account}"

    def cli(self, *args, account):
        proc = subprocess.run([WALLET, *args, "--wallet", self.uri(account)], capture_output=True, text=True, timeout=60)
        if proc.returncode != 0:
            raise AssertionError(f"petalsln-wallet {args}: {proc.stderr}")
        return json.loads(proc.stdout)

    def balance(self, account):
        return self.cli("balance", account=account)["balance_msat"]


class NwcBase(unittest.TestCase):
    ENCRYPTION = "nip44_v2"

    @classmethod
    def setUpClass(cls):
        cls.devnet = Devnet()
        cls.devnet.cli("create-account", "service", "--fund-sats", "1000", account="service")
        cls.devnet.cli("create-account", "counterparty", "--fund-sats", "1000", account="counterparty")
        cls.procs = []
        cls.relay = cls.start("relay.js")
        cls.service = cls.start_service(cls.relay, cls.ENCRYPTION)
        cls.uri = cls.service.info["uri"]

    @classmethod
    def start(cls, *args):
        p = Proc(*args)
        cls.procs.append(p)
        return p

    @classmethod
    def start_service(cls, relay, encryption, misbehave="none"):
        return cls.start("nwc_service.js", "--relay", relay.info["url"], "--wallet-cli", WALLET,
                         "--devnet", cls.devnet.uri("service"), "--encryption", encryption, "--misbehave", misbehave)

    @classmethod
    def tearDownClass(cls):
        for p in reversed(cls.procs):
            p.stop()
        shutil.rmtree(cls.devnet.dir, ignore_errors=True)

    def nwc(self, *args, uri=None, timeout_ms=15000):
        return helper("wallet", uri or self.uri, str(timeout_ms), *args)

    def ok(self, *args, **kw):
        rc, out = self.nwc(*args, **kw)
        self.assertEqual(rc, 0, out)
        return out[0]

    def fails(self, code, says, *args, **kw):
        rc, out = self.nwc(*args, **kw)
        self.assertEqual((rc, out[0].get("error")), (1, code), out)
        self.assertIn(says, out[0]["message"])
        return out[0]["message"]


class NwcNip44(NwcBase):
    ENCRYPTION = "nip44_v2"

    def test_info(self):
        info = self.ok("info")
        self.assertEqual(info["encryption"], self.ENCRYPTION)
        self.assertEqual(sorted(info["methods"]), ["get_balance", "lookup_invoice", "make_invoice", "pay_invoice"])

    def test_balance_is_the_devnet_balance(self):
        self.assertEqual(self.ok("balance")["balance_msat"], self.devnet.balance("service"))

    def test_wallet_cli_speaks_nwc_through_open_wallet(self):
        proc = subprocess.run([WALLET, "balance", "--wallet", self.uri], capture_output=True, text=True, timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(json.loads(proc.stdout)["balance_msat"], self.devnet.balance("service"))

    def test_receive(self):
        inv = self.ok("invoice", "5000", "coffee")
        status = self.ok("lookup-invoice", inv["payment_hash"])
        self.assertEqual((status["settled"], status["expired"]), (False, False))
        before = self.devnet.balance("service")
        paid = self.devnet.cli("pay", inv["bolt11"], account="counterparty")
        self.assertEqual(paid["payment_hash"], inv["payment_hash"])
        status = self.ok("lookup-invoice", inv["payment_hash"])
        self.assertEqual((status["settled"], status["amount_paid_msat"]), (True, 5000))
        self.assertGreater(status["settled_at"], 0)
        self.assertEqual(self.devnet.balance("service"), before + 5000)
        # An invoice we issued is not a payment we made.
        self.assertEqual(self.ok("lookup-payment", inv["payment_hash"]), {"found": False})

    def test_pay(self):
        inv = self.devnet.cli("invoice", "--amount-msat", "7000", account="counterparty")
        before = (self.devnet.balance("service"), self.devnet.balance("counterparty"))
        r = self.ok("pay", inv["bolt11"])
        self.assertEqual(r["status"], "succeeded", r)
        self.assertEqual(hashlib.sha256(bytes.fromhex(r["preimage"])).hexdigest(), inv["payment_hash"])
        self.assertEqual((r["amount_msat"], r["fee_msat"]), (7000, 0))
        self.assertEqual((self.devnet.balance("service"), self.devnet.balance("counterparty")),
                         (before[0] - 7000, before[1] + 7000))
        looked = self.ok("lookup-payment", inv["payment_hash"])
        self.assertEqual((looked["found"], looked["status"], looked["preimage"]), (True, "succeeded", r["preimage"]))
        self.fails("not_found", "not an invoice", "lookup-invoice", inv["payment_hash"])
        # Paying it again is refused by the service: a failed result, balances untouched.
        again = self.ok("pay", inv["bolt11"])
        self.assertEqual(again["status"], "failed")
        self.assertIn("PAYMENT_FAILED", again["failure_reason"])
        self.assertEqual(self.devnet.balance("service"), before[0] - 7000)

    def test_pay_beyond_balance(self):
        inv = self.devnet.cli("invoice", "--amount-msat", str(10**12), account="counterparty")
        r = self.ok("pay", inv["bolt11"])
        self.assertEqual(r["status"], "failed")
        self.assertIn("INSUFFICIENT_BALANCE", r["failure_reason"])

    def test_unknown_hash(self):
        unknown = "ab" * 32
        self.fails("not_found", "NOT_FOUND", "lookup-invoice", unknown)
        self.assertEqual(self.ok("lookup-payment", unknown), {"found": False})

    def test_undecodable_invoice(self):
        self.fails("invalid_format", "", "pay", "lnbcrt1notaninvoice")

    def test_describe_hides_the_secret(self):
        secret = self.uri.split("secret=")[1].split("&")[0]
        d = self.ok("describe")["describe"]
        self.assertNotIn(secret, d)
        self.assertTrue(d.startswith("nostr+walletconnect://" + self.service.info["service_pubkey"]))


class NwcNip04(NwcNip44):
    ENCRYPTION = "nip04"


@unittest.skipUnless(OPENSSL, "the openssl CLI is not installed (scripts/install-deps.sh installs it)")
class NwcOverWss(NwcBase):
    """NwcWallet through a wss:// relay: NwcOptions::ca_file reaches the WebSocket client."""

    @classmethod
    def setUpClass(cls):
        cls.devnet = Devnet()
        cls.devnet.cli("create-account", "service", "--fund-sats", "1000", account="service")
        cls.procs = []
        cls.cert, key = make_cert(cls.devnet.dir, "relay", "IP:127.0.0.1,DNS:localhost")
        cls.relay = cls.start("relay.js", "--tls", cls.cert, key)
        cls.service = cls.start("nwc_service.js", "--relay", cls.relay.info["url"], "--wallet-cli", WALLET,
                                "--devnet", cls.devnet.uri("service"), "--encryption", "nip44_v2", "--ca", cls.cert)
        cls.uri = cls.service.info["uri"]

    def test_balance_through_a_trusted_relay(self):
        self.assertTrue(self.relay.info["url"].startswith("wss://"))
        rc, out = helper("wallet", self.uri, "15000", f"--ca={self.cert}", "balance")
        self.assertEqual(rc, 0, out)
        self.assertEqual(out[0]["balance_msat"], self.devnet.balance("service"))

    def test_untrusted_relay_certificate_is_refused(self):
        message = self.fails("io", "no relay reachable", "balance")
        self.assertIn("TLS certificate not trusted", message)


class NwcMisbehaving(NwcBase):
    """Services that break the protocol, behind a relay that forwards whatever it gets."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.hostile = cls.start("relay.js", "--hostile")

    def service_uri(self, misbehave, relay=None):
        return self.start_service(relay or self.hostile, "nip44_v2", misbehave).info["uri"]

    def test_hostile_relay_delivers_honest_answers(self):
        # The control: with an honest service the hostile relay works, so the refusals below
        # come from NwcWallet's checks, not from a relay that drops events.
        self.assertEqual(self.ok("balance", uri=self.service_uri("none"))["balance_msat"], self.devnet.balance("service"))

    def test_forged_responses_are_ignored_and_the_request_times_out(self):
        for mode in ["bad-sig", "wrong-author", "wrong-e", "wrong-p", "garbage"]:
            with self.subTest(mode=mode):
                self.fails("io", "no answer from the wallet service within 1500 ms", "balance",
                           uri=self.service_uri(mode), timeout_ms=1500)

    def test_error_codes(self):
        self.fails("io", "RATE_LIMITED", "balance", uri=self.service_uri("error:RATE_LIMITED"))
        self.fails("unsupported", "NOT_IMPLEMENTED", "balance", uri=self.service_uri("error:NOT_IMPLEMENTED"))
        self.fails("not_found", "NOT_FOUND", "lookup-invoice", "cd" * 32, uri=self.service_uri("error:NOT_FOUND"))
        inv = self.devnet.cli("invoice", "--amount-msat", "1000", account="counterparty")
        for code in ["QUOTA_EXCEEDED", "RESTRICTED", "UNAUTHORIZED", "INTERNAL", "OTHER", "PAYMENT_FAILED"]:
            r = self.ok("pay", inv["bolt11"], uri=self.service_uri("error:" + code))
            self.assertEqual(r["status"], "failed")
            self.assertIn(code, r["failure_reason"])

    def test_wrong_preimage_is_a_failed_payment(self):
        inv = self.devnet.cli("invoice", "--amount-msat", "1000", account="counterparty")
        r = self.ok("pay", inv["bolt11"], uri=self.service_uri("bad-preimage", relay=self.relay))
        self.assertEqual(r["status"], "failed")
        self.assertIn("does not match", r["failure_reason"])

    def test_silent_service_leaves_a_payment_pending(self):
        inv = self.devnet.cli("invoice", "--amount-msat", "1000", account="counterparty")
        r = self.ok("pay", inv["bolt11"], uri=self.service_uri("silent", relay=self.relay), timeout_ms=1500)
        self.assertEqual(r["status"], "pending")

    def test_relay_down_is_io(self):
        pk = self.service.info["service_pubkey"]
        uri = f"nostr+walletconnect://{pk}?relay=ws://127.0.0.1:{free_port()}&secret={'11' * 32}"
        self.fails("io", "no relay reachable", "balance", uri=uri)

    def test_malformed_uris(self):
        pk = self.service.info["service_pubkey"]
        secret = "5c" * 32
        relay = "relay=ws%3A%2F%2F127.0.0.1%3A1"
        cases = [
            (f"nostr+walletconnect://{pk[:-2]}?{relay}&secret={secret}", "public key"),
            (f"nostr+walletconnect://{'zz' * 32}?{relay}&secret={secret}", "public key"),
            (f"nostr+walletconnect://{'ff' * 32}?{relay}&secret={secret}", "not a point"),
            (f"nostr+walletconnect://{pk}?secret={secret}", "missing 'relay'"),
            (f"nostr+walletconnect://{pk}?{relay}", "missing 'secret'"),
            (f"nostr+walletconnect://{pk}?relay=https://relay.example&secret={secret}", "ws:// or wss://"),
            (f"nostr+walletconnect://{pk}?{relay}&secret={secret[:-1]}x", "'secret' must be 64 hex digits"),
            (f"nostr+walletconnect://{pk}?{relay}&secret={'00' * 32}", "not a valid secp256k1 secret key"),
            (f"nostr+walletconnect://{pk}?{relay}&secret={secret}&secret={secret}", "more than one"),
        ]
        for uri, says in cases:
            with self.subTest(says=says):
                message = self.fails("invalid_argument", says, "balance", uri=uri)
                self.assertNotIn(secret[:-1], message)


if __name__ == "__main__":
    unittest.main(verbosity=2)
