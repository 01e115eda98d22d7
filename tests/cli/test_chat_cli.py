"""petalsln-chat's scripting contract, checked against transformers' reference outputs.

Run by CTest with PETALSLN_CHAT (the binary), PETALSLN_FIXTURES and PETALSLN_DEMO_MODEL set.
Standard library only.
"""
import json
import os
import shutil
import subprocess
import tempfile
import unittest

CHAT = os.environ["PETALSLN_CHAT"]
FIXTURES = os.environ["PETALSLN_FIXTURES"]
DEMO = os.environ["PETALSLN_DEMO_MODEL"]


def run_chat(*args, expect_rc=0):
    proc = subprocess.run([CHAT, *args], capture_output=True, timeout=300)
    if proc.returncode != expect_rc:
        raise AssertionError(f"petalsln-chat {args!r} exited {proc.returncode}, expected {expect_rc}\n"
                             f"stdout: {proc.stdout[-2000:]!r}\nstderr: {proc.stderr[-2000:]!r}")
    return proc


def chat_json(*args):
    proc = run_chat(*args, "--json")
    lines = proc.stdout.decode().strip().splitlines()
    assert len(lines) == 1, f"expected one JSON line, got {lines!r}"
    return json.loads(lines[0])


def reference(path):
    with open(os.path.join(path, "reference.json"), encoding="utf-8") as f:
        return json.load(f)


class DemoModelAnswers(unittest.TestCase):
    def test_every_reference_answer(self):
        for case in reference(DEMO)["greedy"]:
            with self.subTest(question=case["question"]):
                out = chat_json("--model", DEMO, "--local", "--prompt", case["question"],
                                "--max-new-tokens", "64", "--greedy")
                self.assertEqual(out["prompt_ids"], case["prompt_ids"])
                self.assertEqual(out["new_ids"], case["new_ids"])
                self.assertEqual(out["text"], case["text"])
                self.assertEqual(out["stop_reason"], "stop_token")


    def test_every_reference_answer_with_compact_weights(self):
        # The accuracy promise of each compact format, as a user meets it: the same answers.
        for flags in (("--dtype", "bf16"), ("--dtype", "f16"), ("--quant", "int8")):
            for case in reference(DEMO)["greedy"]:
                with self.subTest(flags=flags, question=case["question"]):
                    out = chat_json("--model", DEMO, "--local", *flags, "--prompt", case["question"],
                                    "--max-new-tokens", "64", "--greedy")
                    self.assertEqual(out["text"], case["text"])

    def test_raw_prompts_recognise_special_tokens(self):
        # A client that renders ChatML itself (as chat.petals.dev's page does) and sends it raw
        # gets the same ids as the chat template, so the model sees real turns.
        system = "<|im_start|>system\nYou are a helpful AI assistant.<|im_end|>\n"
        for case in reference(DEMO)["conversations"]:
            turns = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in case["messages"])
            with self.subTest(question=case["messages"][-1]["content"]):
                out = chat_json("--model", DEMO, "--local", "--raw", "--prompt", system + turns + "<|im_start|>assistant\n",
                                "--max-new-tokens", "64", "--greedy")
                self.assertEqual(out["prompt_ids"], case["prompt_ids"])
                self.assertEqual(out["new_ids"], case["new_ids"])
                self.assertEqual(out["text"], case["expected"])


class FixtureGreedy(unittest.TestCase):
    def test_greedy_with_and_without_repetition_penalty(self):
        for name in ("tiny-llama3", "tiny-smollm2"):
            model = os.path.join(FIXTURES, name)
            for case in reference(model)["greedy"]:
                with self.subTest(model=name, text=case["text"], rp=case["repetition_penalty"]):
                    out = chat_json("--model", model, "--local", "--raw", "--prompt", case["text"],
                                    "--max-new-tokens", str(len(case["new_tokens"])), "--greedy",
                                    "--repetition-penalty", str(case["repetition_penalty"]))
                    self.assertEqual(out["prompt_ids"], case["ids"])
                    self.assertEqual(out["new_ids"], case["new_tokens"])

    def test_chat_template_prompt_ids(self):
        for name in ("tiny-llama3", "tiny-smollm2"):
            model = os.path.join(FIXTURES, name)
            for case in reference(model)["chat"]:
                if len(case["messages"]) != 1:
                    continue
                with self.subTest(model=name):
                    out = chat_json("--model", model, "--local", "--prompt", case["messages"][0]["content"],
                                    "--max-new-tokens", "0")
                    self.assertEqual(out["prompt_ids"], case["ids"])
                    self.assertEqual(out["new_ids"], [])
                    self.assertEqual(out["text"], "")


class Sampling(unittest.TestCase):
    def test_same_seed_same_tokens(self):
        args = ("--model", os.path.join(FIXTURES, "tiny-smollm2"), "--local", "--raw", "--prompt", "Once upon",
                "--max-new-tokens", "16", "--temperature", "0.9", "--top-k", "40", "--top-p", "0.95")
        a = chat_json(*args, "--seed", "7")
        b = chat_json(*args, "--seed", "7")
        c = chat_json(*args, "--seed", "8")
        self.assertEqual(a["new_ids"], b["new_ids"])
        self.assertTrue(1 <= len(a["new_ids"]) <= 16)
        self.assertNotEqual(a["new_ids"], c["new_ids"])


class BadInput(unittest.TestCase):
    def assert_usage_error(self, *args, mentions):
        proc = run_chat(*args, expect_rc=2)
        self.assertIn(mentions, proc.stderr.decode())

    def test_bad_flags(self):
        base = ("--model", DEMO, "--local", "--prompt", "Hi", "--json")
        self.assert_usage_error(*base, "--top-p", "1.5", mentions="top_p")
        self.assert_usage_error(*base, "--temperature", "0", mentions="temperature")
        self.assert_usage_error(*base, "--repetition-penalty", "-1", mentions="repetition_penalty")
        self.assert_usage_error(*base, "--top-k", "-3", mentions="--top-k")
        self.assert_usage_error(*base, "--max-new-tokens", "ten", mentions="--max-new-tokens")
        self.assert_usage_error(*base, "--greedy", "--temperature", "0.5", mentions="--greedy")
        self.assert_usage_error(*base, "--frobnicate", mentions="--frobnicate")
        self.assert_usage_error("--local", "--prompt", "Hi", mentions="--model")
        self.assert_usage_error("--model", DEMO, "--local", "--json", mentions="--prompt")
        self.assert_usage_error("--model", DEMO, "--local", "--prompt", mentions="needs a value")
        self.assert_usage_error(*base, "--dtype", "f64", mentions="--dtype must be f32, bf16 or f16")
        self.assert_usage_error(*base, "--dtype", "int8", mentions="--dtype")
        self.assert_usage_error(*base, "--quant", "int4", mentions="--quant must be none or int8")

    def test_invalid_utf8_prompt(self):
        proc = subprocess.run([CHAT, "--model", DEMO, "--local", "--json", "--prompt", b"caf\xc3(".decode("latin-1")
                               .encode("latin-1")], capture_output=True, timeout=120)
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertIn("UTF-8", proc.stderr.decode(errors="replace"))

    def test_broken_model_folders(self):
        with tempfile.TemporaryDirectory() as tmp:
            proc = run_chat("--model", os.path.join(tmp, "absent"), "--local", "--prompt", "Hi", "--json", expect_rc=1)
            self.assertIn("not found", proc.stderr.decode())
            broken = os.path.join(tmp, "broken")
            shutil.copytree(DEMO, broken)
            with open(os.path.join(broken, "config.json"), "w") as f:
                f.write('{"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"]}')
            proc = run_chat("--model", broken, "--local", "--prompt", "Hi", "--json", expect_rc=1)
            self.assertIn("GPT2LMHeadModel", proc.stderr.decode())
            shutil.copy(os.path.join(DEMO, "config.json"), os.path.join(broken, "config.json"))
            with open(os.path.join(broken, "model.safetensors"), "r+b") as f:
                f.truncate(1000)
            proc = run_chat("--model", broken, "--local", "--prompt", "Hi", "--json", expect_rc=1)
            self.assertIn("model.safetensors", proc.stderr.decode())


if __name__ == "__main__":
    unittest.main(verbosity=2)
