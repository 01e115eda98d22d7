"""The Node side of the NWC tests: where the scripts live and how they are started.

Shared by test_nwc.py and test_nwc_conformance.py. Standard library only.
"""
import json
import os
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
NODE = os.environ.get("PETALSLN_NODE") or "node"

if not os.path.isdir(os.path.join(HERE, "node_modules", "nostr-tools")):
    raise SystemExit(f"{HERE}/node_modules is missing: run scripts/install-js-deps.sh")


class Proc:
    """A Node process that prints one JSON line when ready; stopped by stop()."""

    def __init__(self, *args):
        self.p = subprocess.Popen([NODE, *args], cwd=HERE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.p.stdout.readline()
        if not line:
            raise RuntimeError(f"{args[0]} did not start: {self.p.stderr.read()}")
        self.info = json.loads(line)

    def stop(self):
        self.p.terminate()
        try:
            self.p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        self.p.stdout.close()
        self.p.stderr.close()
