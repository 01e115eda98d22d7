"""petalsln-gateway over TLS (--tls-cert/--tls-key): HTTPS and WSS with a self-signed
certificate made here by the openssl CLI, checked by clients nobody here wrote (curl --cacert,
npm `ws` trusting the certificate through NODE_EXTRA_CA_CERTS); plain HTTP, garbage and a
handshake never finished close only their own sockets while the gateway keeps serving; a key
file others may read is refused. A gateway running the demo model's blocks itself (--local)."""
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
GATEWAY = os.environ["PETALSLN_GATEWAY"]
MODEL = os.environ["PETALSLN_DEMO_MODEL"]
NODE = os.environ.get("PETALSLN_NODE") or "node"
CURL = os.environ.get("PETALSLN_CURL") or "curl"
OPENSSL = os.environ.get("PETALSLN_OPENSSL") or "openssl"
QUESTION = "What is 17 + 25?"
ANSWER = "17 + 25 = 42."
PROMPT = f"<|im_start|>user\n{QUESTION}<|im_end|>\n<|im_start|>assistant\n"


def make_certificate(folder):
    """A self-signed certificate for 127.0.0.1 and localhost; returns (cert, key), the key 0600."""
    cert, key = os.path.join(folder, "cert.pem"), os.path.join(folder, "key.pem")
    subprocess.run([OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"], check=True, capture_output=True, timeout=60)
    os.chmod(key, 0o600)
    return cert, key


def start_gateway(*args):
    """Starts petalsln-gateway; returns (process, ready fields), or (process, None) if it exited."""
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen([GATEWAY, *args], stdout=subprocess.PIPE, stderr=log)
    line = proc.stdout.readline().decode()
    proc.log = log
    if not line.startswith("ready "):
        proc.wait(timeout=60)
        return proc, None
    return proc, dict(kv.split("=", 1) for kv in line.split()[1:])


def stderr_of(proc):
    proc.log.seek(0)
    return proc.log.read().decode(errors="replace")


def finish(proc):
    """Returns the stderr of @p proc, which has exited, and releases its pipes."""
    text = stderr_of(proc)
    proc.log.close()
    proc.stdout.close()
    return text


class GatewayOverTls(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.cert, cls.key = make_certificate(cls.tmp.name)
        cls.proc, cls.ready = start_gateway("--model", MODEL, "--local", "--tls-cert", cls.cert, "--tls-key", cls.key,
                                            "--tls-handshake-timeout", "1", "--max-new-tokens", "32")
        assert cls.ready, f"the TLS gateway did not start\n{stderr_of(cls.proc)}"
        cls.url = cls.ready["url"]
        cls.port = int(cls.url.rsplit(":", 1)[1])

    @classmethod
    def tearDownClass(cls):
        cls.proc.send_signal(signal.SIGTERM)
        status = cls.proc.wait(timeout=60)
        log = finish(cls.proc)
        cls.tmp.cleanup()
        assert status == 0, f"the gateway exited {status}\n{log}"

    def curl(self, *args):
        out = subprocess.run([CURL, "-sS", "--cacert", self.cert, *args], capture_output=True, timeout=120)
        self.assertEqual(out.returncode, 0, out.stderr.decode(errors="replace"))
        return json.loads(out.stdout)

    def assert_still_serving(self):
        self.assertEqual(self.curl(f"{self.url}/v1/models")["data"][0]["id"], "demo-model")

    def test_ready_line_says_https(self):
        self.assertTrue(self.url.startswith("https://127.0.0.1:"), self.url)

    def test_https_with_curl(self):
        self.assert_still_serving()
        reply = self.curl("--data-urlencode", "model=demo-model", "--data-urlencode", f"inputs={PROMPT}",
                          "--data-urlencode", "max_new_tokens=20", f"{self.url}/api/v1/generate")
        self.assertTrue(reply["ok"], reply)
        self.assertEqual(reply["outputs"], ANSWER)
        # Without the certificate trusted, curl refuses the connection: it is really TLS.
        untrusted = subprocess.run([CURL, "-sS", f"{self.url}/v1/models"], capture_output=True, timeout=60)
        self.assertNotEqual(untrusted.returncode, 0)

    def test_wss_with_npm_ws(self):
        env = dict(os.environ, NODE_EXTRA_CA_CERTS=self.cert)
        out = subprocess.run([NODE, os.path.join(HERE, "petals_ws.js"), self.url, "demo-model", QUESTION], cwd=HERE, env=env,
                             capture_output=True, timeout=300)
        self.assertEqual(out.returncode, 0, out.stderr.decode(errors="replace")[-3000:])
        r = json.loads(out.stdout.decode().strip().splitlines()[-1])
        self.assertEqual(r["opened"], {"ok": True})
        self.assertEqual(r["first"]["text"], ANSWER)
        self.assertIn("open an inference session first", r["beforeOpen"]["traceback"])

    def test_plain_http_and_garbage_close_only_their_socket(self):
        for payload in (b"GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n", os.urandom(600), b"\x16\x03\x01\x00\x05hello"):
            with socket.create_connection(("127.0.0.1", self.port), timeout=10) as s:
                s.sendall(payload)
                data = b""
                try:
                    while True:
                        chunk = s.recv(4096)
                        if not chunk:
                            break
                        data += chunk
                except ConnectionResetError:
                    pass
                self.assertNotIn(b"200 OK", data)
                self.assertNotIn(b"demo-model", data)
            self.assert_still_serving()
        # Python's own HTTP client speaking plain HTTP fails cleanly too.
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        with self.assertRaises((http.client.HTTPException, ConnectionError, OSError)):
            conn.request("GET", "/v1/models")
            conn.getresponse().read()
        conn.close()
        self.assert_still_serving()

    def test_a_handshake_never_finished_is_closed_after_its_timeout(self):
        t0 = time.monotonic()
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as s:
            self.assertEqual(s.recv(1), b"")  # closed by the gateway, not by our timeout
        waited = time.monotonic() - t0
        self.assertGreaterEqual(waited, 0.8)
        self.assertLess(waited, 5)
        # A stalled socket beside it does not stop an honest client.
        with socket.create_connection(("127.0.0.1", self.port), timeout=10):
            self.assert_still_serving()

    def test_python_ssl_client_verifies_and_reads(self):
        context = ssl.create_default_context(cafile=self.cert)
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as raw:
            with context.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                self.assertIn(s.version(), ("TLSv1.2", "TLSv1.3"))
                s.sendall(b"GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                data = b""
                while chunk := s.recv(4096):
                    data += chunk
        self.assertTrue(data.startswith(b"HTTP/1.1 200"), data[:100])
        self.assertIn(b"demo-model", data)


class TlsConnectionLimit(unittest.TestCase):
    def test_past_max_connections_a_tls_client_reads_503(self):
        with tempfile.TemporaryDirectory() as tmp:
            cert, key = make_certificate(tmp)
            proc, ready = start_gateway("--model", MODEL, "--local", "--tls-cert", cert, "--tls-key", key,
                                        "--max-connections", "1")
            try:
                self.assertIsNotNone(ready, stderr_of(proc))
                port = int(ready["url"].rsplit(":", 1)[1])
                context = ssl.create_default_context(cafile=cert)
                with context.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10),
                                         server_hostname="127.0.0.1"):
                    time.sleep(0.3)  # the gateway has admitted it
                    out = subprocess.run([CURL, "-sS", "--cacert", cert, "-w", "\n%{http_code}", f"{ready['url']}/v1/models"],
                                         capture_output=True, timeout=60)
                    body, code = out.stdout.decode().rsplit("\n", 1)
                    self.assertEqual(code, "503")
                    self.assertIn("too many connections", json.loads(body)["error"]["message"])
                time.sleep(0.3)  # the first connection is gone
                out = subprocess.run([CURL, "-sS", "--cacert", cert, f"{ready['url']}/v1/models"], capture_output=True, timeout=60)
                self.assertEqual(json.loads(out.stdout)["data"][0]["id"], "demo-model")
                proc.send_signal(signal.SIGTERM)
                self.assertEqual(proc.wait(timeout=60), 0)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
                finish(proc)

    def test_sigterm_with_a_handshake_pending_exits_at_once(self):
        with tempfile.TemporaryDirectory() as tmp:
            cert, key = make_certificate(tmp)
            proc, ready = start_gateway("--model", MODEL, "--local", "--tls-cert", cert, "--tls-key", key)
            try:
                self.assertIsNotNone(ready, stderr_of(proc))
                port = int(ready["url"].rsplit(":", 1)[1])
                with socket.create_connection(("127.0.0.1", port), timeout=10):
                    time.sleep(0.3)
                    t0 = time.monotonic()
                    proc.send_signal(signal.SIGTERM)
                    self.assertEqual(proc.wait(timeout=60), 0)
                    self.assertLess(time.monotonic() - t0, 5)  # not the 10 s handshake timeout
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
                finish(proc)


class TlsKeyChecks(unittest.TestCase):
    def test_a_key_others_may_read_is_refused(self):
        with tempfile.TemporaryDirectory() as tmp:
            cert, key = make_certificate(tmp)
            os.chmod(key, 0o644)
            proc, ready = start_gateway("--model", MODEL, "--local", "--tls-cert", cert, "--tls-key", key)
            self.assertIsNone(ready)
            self.assertEqual(proc.returncode, 1)
            log = finish(proc)
            self.assertIn(f"the TLS key file {key} may be read by others: chmod 600 it", log)
            with open(key) as f:
                body = "".join(line for line in f if not line.startswith("-----")).strip()
            self.assertNotIn(body[:40], log)

    def test_a_key_that_does_not_match_or_is_not_pem_is_refused(self):
        with tempfile.TemporaryDirectory() as tmp:
            cert, _ = make_certificate(tmp)
            other = os.path.join(tmp, "other")
            os.mkdir(other)
            _, other_key = make_certificate(other)
            proc, ready = start_gateway("--model", MODEL, "--local", "--tls-cert", cert, "--tls-key", other_key)
            self.assertIsNone(ready)
            self.assertIn(f"the TLS key file {other_key} does not hold the key of the certificate {cert}", finish(proc))
            garbage = os.path.join(tmp, "garbage.pem")
            with open(garbage, "w") as f:
                f.write("not a key\n")
            os.chmod(garbage, 0o600)
            proc, ready = start_gateway("--model", MODEL, "--local", "--tls-cert", cert, "--tls-key", garbage)
            self.assertIsNone(ready)
            self.assertIn(f"cannot load the TLS key file {garbage}", finish(proc))

    def test_cert_without_key_is_a_usage_error(self):
        with tempfile.TemporaryDirectory() as tmp:
            cert, _ = make_certificate(tmp)
            out = subprocess.run([GATEWAY, "--model", MODEL, "--local", "--tls-cert", cert], capture_output=True, timeout=60)
            self.assertNotEqual(out.returncode, 0)
            self.assertIn("--tls-key", out.stderr.decode())


if __name__ == "__main__":
    if subprocess.run([OPENSSL, "version"], capture_output=True).returncode != 0:
        sys.exit("openssl is missing: run scripts/install-deps.sh")
    unittest.main(verbosity=2)
