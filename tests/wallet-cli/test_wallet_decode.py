"""petalsln-wallet decode: the BOLT #11 specification's examples, and inputs it must refuse.

Run by CTest with PETALSLN_WALLET (the binary) and PETALSLN_BOLT11_VECTORS (the spec's
examples with the fields they list, tests/lightning/bolt11_vectors.json) set.
Standard library only.
"""
import json
import os
import subprocess
import unittest

WALLET = os.environ["PETALSLN_WALLET"]
with open(os.environ["PETALSLN_BOLT11_VECTORS"], encoding="utf-8") as f:
    VECTORS = json.load(f)

KEYS = ["network", "amount_msat", "timestamp", "payment_hash", "payment_secret", "description",
        "expiry", "min_final_cltv_expiry", "payee", "features", "route_hints", "expires_at",
        "signature_valid"]


def run(*args):
    return subprocess.run([WALLET, *args], capture_output=True, timeout=60, text=True)


def decode(*args):
    proc = run("decode", *args)
    if proc.returncode != 0:
        raise AssertionError(f"decode {args!r} exited {proc.returncode}: {proc.stderr}")
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1, f"expected one JSON line, got {lines!r}"
    return json.loads(lines[0])


def expected_json(v):
    """The JSON petalsln-wallet should print for a vector of bolt11_vectors.json."""
    out = {k: v[k] for k in ("network", "amount_msat", "timestamp", "payment_hash", "payment_secret")}
    for k in ("description", "description_hash"):
        if k in v:
            out[k] = v[k]
    out["expiry"] = v["expiry"]
    out["min_final_cltv_expiry"] = v["min_final_cltv_expiry"]
    out["payee"] = v["payee"]
    out["features"] = v["features"]
    out["route_hints"] = v["route_hints"]
    if v["fallback_addresses"]:
        out["fallback_addresses"] = [{"version": a["version"], "program": a["program"]}
                                     for a in v["fallback_addresses"]]
    if "metadata" in v:
        out["metadata"] = v["metadata"]
    out["expires_at"] = v["timestamp"] + v["expiry"]
    out["signature_valid"] = True
    return out


class SpecExamples(unittest.TestCase):
    def test_every_valid_example(self):
        for v in VECTORS["valid"]:
            with self.subTest(name=v["name"]):
                got = decode(v["invoice"])
                self.assertEqual(got, expected_json(v))
                self.assertEqual(list(got), list(expected_json(v)))  # key order is part of the contract

    def test_every_invalid_example_exits_1_with_the_reason(self):
        for v in VECTORS["invalid"]:
            with self.subTest(name=v["name"]):
                proc = run("decode", v["invoice"])
                self.assertEqual(proc.returncode, 1, proc.stderr)
                self.assertEqual(proc.stdout, "")
                self.assertTrue(proc.stderr.startswith("petalsln-wallet: error: BOLT11 invoice: "), proc.stderr)
                self.assertIn(v["reason"], proc.stderr)

    def test_amount_is_null_when_absent(self):
        self.assertIsNone(decode(VECTORS["valid"][0]["invoice"])["amount_msat"])

    def test_lightning_uri_prefix(self):
        v = VECTORS["valid"][1]
        self.assertEqual(decode("lightning:" + v["invoice"]), expected_json(v))
        self.assertEqual(decode("LIGHTNING:" + v["invoice"]), expected_json(v))


class BadInputs(unittest.TestCase):
    def test_malformed_strings(self):
        good = VECTORS["valid"][1]["invoice"]
        cases = {
            "": "no separator",
            "hello": "no separator",
            good[:-1]: "checksum is invalid",
            good[:40]: "checksum is invalid",
            good.replace("lnbc", "lnxx", 1): "checksum is invalid",
            good + "q": "checksum is invalid",
        }
        for text, why in cases.items():
            with self.subTest(text=text):
                proc = run("decode", text)
                self.assertEqual(proc.returncode, 1)
                self.assertIn("error: ", proc.stderr)
                self.assertIn(why, proc.stderr)

    def test_bad_signature_reported_on_request(self):
        high_s_with_n = next(v for v in VECTORS["invalid"] if "with an n field" in v["name"])["invoice"]
        got = decode("--allow-bad-signature", high_s_with_n)
        self.assertFalse(got["signature_valid"])
        self.assertIsNone(got["payee"])
        self.assertEqual(run("decode", high_s_with_n).returncode, 1)

    def test_usage_errors_exit_2(self):
        good = VECTORS["valid"][0]["invoice"]
        for args in ([], ["decode"], ["decode", good, good], ["frobnicate"], ["decode", "--nope", good]):
            with self.subTest(args=args):
                proc = run(*args)
                self.assertEqual(proc.returncode, 2, proc.stderr)
                self.assertIn("petalsln-wallet --help", proc.stderr)

    def test_help(self):
        for args in (["--help"], ["-h"], ["decode", "--help"]):
            with self.subTest(args=args):
                proc = run(*args)
                self.assertEqual(proc.returncode, 0)
                for word in ["decode BOLT11", *KEYS, "--allow-bad-signature", "route_hints", "description_hash"]:
                    self.assertIn(word, proc.stdout)


if __name__ == "__main__":
    unittest.main()
