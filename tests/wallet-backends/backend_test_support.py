"""What the wallet-backend test drivers (test_cln.py, test_lnbits.py, test_lnd.py) share.

BackendTest sets up a devnet file with the node's account and a counterparty, TLS
certificates, and the backend's loopback counterpart(s); it runs the wallet conformance suite
and the failures every REST backend must handle the same way: a slow reply, an oversized
reply, a certificate the client must not trust, a certificate for another host, a refused
credential, malformed URIs. Each driver subclasses it, says what differs (scheme, credential,
expected skips) and adds its backend's own tests.

Drivers import this module as a module (`import backend_test_support as support`), never its
class by name, so that unittest does not collect BackendTest itself.

Standard library only.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import devnet_bridge  # noqa: E402

WALLET = os.environ["PETALSLN_WALLET"]
CONFORMANCE = os.environ["PETALSLN_WALLET_CONFORMANCE"]


def wallet_cli(*args, timeout=120):
    return subprocess.run([WALLET, *args], capture_output=True, text=True, timeout=timeout)


class _NotFoundHandler(devnet_bridge.JsonRequestHandler):
    """Answers every request with 404: proof that a request got through TLS."""

    def route(self, method, path, query, body):
        self.send_json(404, {"code": 5, "message": "Not Found", "detail": "Not Found"})


class BackendTest(unittest.TestCase):
    """Base of the backend drivers. A subclass sets:

      SCHEME          the URI scheme, e.g. "cln+rest"
      NODE_ACCOUNT    the devnet account behind the counterpart
      CREDENTIAL      how errors name the credential ("rune", "API key", "macaroon")
      EXPECTED_SKIPS  {conformance check: words its SKIP line must contain}; every other
                      check must PASS

    and implements start_counterparts() (start each with start_counterpart(), set cls.port),
    credential_query(**kw) (the URI's credential parameters, e.g. "rune=..."), secrets()
    (strings no output may show), wrong_credential_query() and REFUSAL_DETAIL (the peer's
    reason a refused credential must carry), and backend_malformed_uris()."""

    SCHEME = None
    NODE_ACCOUNT = "node"
    CREDENTIAL = None
    EXPECTED_SKIPS = {}
    REFUSAL_DETAIL = None

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix=f"petalsln-{cls.NODE_ACCOUNT}-")
        cls.devnet = os.path.join(cls.dir, "devnet.db")
        cls.node_uri = devnet_bridge.create_account(WALLET, cls.devnet, cls.NODE_ACCOUNT, 2_000)
        cls.counterparty_uri = devnet_bridge.create_account(WALLET, cls.devnet, "counterparty", 2_000)
        cls.cert, cls.key = devnet_bridge.make_tls_cert(cls.dir, cls.NODE_ACCOUNT)
        cls.other_cert, _ = devnet_bridge.make_tls_cert(cls.dir, "stranger")
        cls.procs = []
        cls.start_counterparts()
        cls.tls = devnet_bridge.client_tls_context(cls.cert)

    @classmethod
    def start_counterpart(cls, script, *args):
        """Starts counterpart SCRIPT for the node's account with the node's certificate and
        ARGS; returns its port."""
        proc, ready = devnet_bridge.start_counterpart(
            [sys.executable, os.path.join(HERE, script), "--wallet-bin", WALLET, "--devnet-uri", cls.node_uri,
             "--cert", cls.cert, "--key", cls.key, *args])
        cls.procs.append(proc)
        return ready["port"]

    @classmethod
    def tearDownClass(cls):
        for proc in cls.procs:
            devnet_bridge.stop_counterpart(proc)
        shutil.rmtree(cls.dir, ignore_errors=True)

    def tearDown(self):
        devnet_bridge.set_faults(self.port, self.tls)

    # ---- what subclasses provide ------------------------------------------------------------

    @classmethod
    def start_counterparts(cls):
        raise NotImplementedError

    def credential_query(self, **kw):
        raise NotImplementedError

    def secrets(self):
        raise NotImplementedError

    def wrong_credential_query(self):
        raise NotImplementedError

    def backend_malformed_uris(self):
        return []

    def conformance_secrets(self):
        """What the conformance suite checks describe() and every error for."""
        return self.secrets()

    # ---- helpers ----------------------------------------------------------------------------

    def uri(self, cert=None, port=None, extra="", **credential):
        return (f"{self.SCHEME}://127.0.0.1:{port or self.port}?{self.credential_query(**credential)}"
                f"&cert={cert or self.cert}{extra}")

    def assert_no_secrets(self, text):
        for secret in self.secrets():
            self.assertNotIn(secret, text)

    def fails(self, *args, wallet=None):
        """Runs petalsln-wallet with --wallet; asserts it fails (exit 1) without showing a
        secret; returns stderr."""
        proc = wallet_cli(*args, "--wallet", wallet or self.uri())
        self.assertEqual(proc.returncode, 1, proc.stdout + proc.stderr)
        self.assert_no_secrets(proc.stdout + proc.stderr)
        return proc.stderr

    def ok(self, *args, wallet=None):
        proc = wallet_cli(*args, "--wallet", wallet or self.uri())
        self.assertEqual(proc.returncode, 0, proc.stderr)
        return json.loads(proc.stdout)

    # ---- the tests every backend runs -------------------------------------------------------

    def test_conformance_suite(self):
        secrets = [f"--secret={s}" for s in self.conformance_secrets()]
        proc = subprocess.run([CONFORMANCE, "--wallet", self.uri(), "--counterparty", self.counterparty_uri, *secrets],
                              capture_output=True, text=True, timeout=400)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        lines = proc.stdout.strip().splitlines()
        verdicts = {line.split(" ", 2)[1].rstrip(":"): line for line in lines[:-1]}
        self.assertGreaterEqual(len(verdicts), 17, proc.stdout)
        for name, line in verdicts.items():
            if name in self.EXPECTED_SKIPS:
                # What the backend cannot do is skipped with its reason, never passed.
                self.assertTrue(line.startswith("SKIP"), line)
                self.assertIn(self.EXPECTED_SKIPS[name], line)
            else:
                self.assertTrue(line.startswith("PASS"), line)
        summary = json.loads(lines[-1])
        self.assertEqual(summary["failed"], 0)
        self.assertEqual(summary["skipped"], len(self.EXPECTED_SKIPS))
        self.assertEqual(summary["passed"], len(verdicts) - len(self.EXPECTED_SKIPS))
        self.assertEqual(summary["wallet"], f"{self.SCHEME}://127.0.0.1:{self.port}")

    def test_refused_credential(self):
        err = self.fails("balance", wallet=self.uri(**self.wrong_credential_query()))
        self.assertIn(f"refused the {self.CREDENTIAL} (HTTP ", err)
        self.assertIn(self.REFUSAL_DETAIL, err)

    def test_slow_reply_times_out(self):
        devnet_bridge.set_faults(self.port, self.tls, delay_s=4)
        self.assertIn("timed out", self.fails("balance", wallet=self.uri(extra="&timeout=1")))

    def test_oversized_reply_is_refused(self):
        devnet_bridge.set_faults(self.port, self.tls, oversize_bytes=2 << 20)
        self.assertIn("larger than", self.fails("balance"))

    def test_undocumented_reply_is_an_error(self):
        devnet_bridge.set_faults(self.port, self.tls, raw_reply={"status": 502, "body": "<html>Bad Gateway</html>"})
        self.assertIn("502", self.fails("balance"))

    def test_untrusted_certificate_is_refused(self):
        err = self.fails("balance", wallet=self.uri(cert=self.other_cert))
        self.assertIn("failed", err)
        self.assertIn("https://127.0.0.1", err)
        # Without cert= the system store is used, which does not know the node's certificate.
        err = self.fails("balance", wallet=f"{self.SCHEME}://127.0.0.1:{self.port}?{self.credential_query()}")
        self.assertIn("failed", err)

    def test_certificate_for_another_host_is_refused(self):
        # The same rule for every backend: cert= is the trust anchor AND the host name must
        # match it. A server whose certificate names only "node.invalid" answers 404 to
        # everything; reached as 127.0.0.1 the handshake must fail before any request.
        wrong_cert, wrong_key = devnet_bridge.make_tls_cert(self.dir, "elsewhere", san="DNS:node.invalid")
        for cert, key, reaches in ((self.cert, self.key, True), (wrong_cert, wrong_key, False)):
            server = devnet_bridge.HttpsJsonServer(_NotFoundHandler, cert, key)
            port = server.start()
            try:
                err = self.fails("balance", wallet=self.uri(cert=cert, port=port))
            finally:
                server.shutdown()
                server.server_close()
            with self.subTest(cert=os.path.basename(cert)):
                if reaches:
                    self.assertIn("404", err)  # the control: this server is reachable over TLS
                else:
                    self.assertNotIn("404", err)
                    self.assertIn("https://127.0.0.1", err)
                    self.assertRegex(err, r"(?i)(host ?name|subject name)")

    def test_malformed_uris_are_refused_with_the_reason(self):
        s, cred = self.SCHEME, self.credential_query()
        cases = [
            (f"{s}://?{cred}", "host"),
            (f"{s}://127.0.0.1:0?{cred}", "port"),
            (f"{s}://127.0.0.1:99999?{cred}", "port"),
            (f"{s}://127.0.0.1/v1?{cred}", "path"),
            (f"{s}://user:pw@127.0.0.1?{cred}", "user names"),
            (f"{s}://127.0.0.1?{cred}&timeout=0", "timeout"),
            (f"{s}://127.0.0.1?{cred}&timeout=3601", "timeout"),
            (f"{s}://127.0.0.1?{cred}&sekrit=abc", "unknown parameter"),
            (f"{s}://127.0.0.1?{cred}&&cert=x", "stray"),
            (f"{s}://[::1?{cred}", "unterminated"),
            (f"{s}://127.0.0.1?{cred}&cert=/nonexistent/ca.pem", "does not exist"),
        ] + self.backend_malformed_uris()
        for uri, reason in cases:
            with self.subTest(uri=uri):
                err = self.fails("balance", wallet=uri)
                self.assertIn(reason, err)
                if "sekrit" in uri:  # an unknown parameter's value might be a misplaced secret
                    self.assertNotIn("abc", err)
