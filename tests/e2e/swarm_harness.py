"""Starts real petalsln processes on loopback for end-to-end tests, and always stops them.

Standard library only. Binaries come from PETALSLN_SERVER and PETALSLN_CHAT.
"""
import json
import os
import signal
import subprocess
import tempfile
import time

SERVER = os.environ["PETALSLN_SERVER"]
CHAT = os.environ["PETALSLN_CHAT"]


class Process:
    """A started server; `ready` holds the fields of its ready line."""

    def __init__(self, args, name):
        self.name = name
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([SERVER, *args], stdout=subprocess.PIPE, stderr=self.log)
        self.ready = self._wait_ready(timeout=60)

    def _wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        line = b""
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if line or self.proc.poll() is not None:
                break
        if not line.startswith(b"ready "):
            self.kill()
            raise AssertionError(f"{self.name} did not become ready: {line!r}\n{self.stderr()}")
        return dict(kv.split("=", 1) for kv in line.decode().split()[1:])

    def stderr(self):
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def stop(self, sig=signal.SIGTERM, timeout=20):
        """Stops the process with @sig and returns its exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"{self.name} did not stop within {timeout} s\n{self.stderr()}")

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def close(self):
        """Releases the pipes once the process has ended."""
        self.proc.stdout.close()
        self.log.close()


class Swarm:
    """A bootstrap DHT node plus servers; use as a context manager."""

    def __init__(self):
        self.processes = []
        self.bootstrap = None

    def __enter__(self):
        self.bootstrap = self._start(["--dht-only"], "bootstrap")
        return self

    def __exit__(self, *exc):
        statuses = {}
        for p in reversed(self.processes):
            if p.proc.poll() is None:
                statuses[p.name] = p.stop()
        for p in self.processes:
            p.kill()
            p.close()
        if exc[0] is None:
            bad = {n: s for n, s in statuses.items() if s != 0}
            assert not bad, f"servers did not stop cleanly: {bad}"
        return False

    @property
    def dht(self):
        return self.bootstrap.ready["dht"]

    def _start(self, args, name):
        p = Process(args, name)
        self.processes.append(p)
        return p

    def server(self, model, blocks, *extra, name=None):
        args = ["--model", model, "--blocks", blocks, "--initial-peers", self.dht, "--threads", "1", *extra]
        return self._start(args, name or f"server {blocks}")


def chat(*args, expect_rc=0, timeout=300):
    proc = subprocess.run([CHAT, *args], capture_output=True, timeout=timeout)
    if proc.returncode != expect_rc:
        raise AssertionError(f"petalsln-chat {args!r} exited {proc.returncode}, expected {expect_rc}\n"
                             f"stdout: {proc.stdout[-3000:]!r}\nstderr: {proc.stderr[-3000:]!r}")
    return proc


def chat_json(*args):
    out = chat(*args, "--json").stdout.decode().strip().splitlines()
    assert len(out) == 1, out
    return json.loads(out[0])
