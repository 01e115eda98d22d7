"""The Python bindings end to end: local greedy generation against transformers' reference
tokens, streaming and cancelling, a paid swarm of three servers started from Python, invoices,
macaroons and L402 headers, payouts, wallets, the weight formats (compact local models answering,
an int8 server announcing less memory) — and wrong calls raising exceptions with the library's
message instead of crashing the interpreter.

Run by CTest with PETALSLN_LIBRARY, PYTHONPATH, PETALSLN_FIXTURES, PETALSLN_DEMO_MODEL and
PETALSLN_STRUCT_LAYOUT set.
"""
import ctypes
import json
import os
import subprocess
import tempfile
import unittest

import petalsln

FIXTURES = os.environ["PETALSLN_FIXTURES"]
DEMO = os.environ["PETALSLN_DEMO_MODEL"]
LLAMA3 = os.path.join(FIXTURES, "tiny-llama3")


def reference(path):
    with open(os.path.join(path, "reference.json"), encoding="utf-8") as f:
        return json.load(f)


class Library(unittest.TestCase):
    def test_versions_agree(self):
        self.assertEqual(petalsln.__version__, petalsln.library_version())
        # The package's metadata says the same (pyproject.toml and its build backend).
        root = os.path.dirname(os.path.dirname(os.path.abspath(petalsln.__file__)))
        with open(os.path.join(root, "pyproject.toml"), encoding="utf-8") as f:
            self.assertIn(f'version = "{petalsln.__version__}"', f.read())
        with open(os.path.join(root, "_build", "petalsln_build.py"), encoding="utf-8") as f:
            self.assertIn(f'VERSION = "{petalsln.__version__}"', f.read())

    def test_abi_version_is_3(self):
        from petalsln import _native
        self.assertEqual(_native.ABI_VERSION, 3)
        self.assertEqual(_native.lib().pln_abi_version(), 3)

    def test_default_weights_are_null(self):
        from petalsln import _native
        lib = _native.lib()
        for params in (lib.pln_model_default_params(), lib.pln_chat_default_params(),
                       lib.pln_server_default_params()):
            with self.subTest(params=type(params).__name__):
                self.assertIsNone(params.weights)


class StructLayouts(unittest.TestCase):
    # Each ctypes declaration and the struct of petalsln.h it stands for.
    STRUCTS = {
        "GenerateParams": "pln_generate_params", "Generation": "pln_generation", "ModelParams": "pln_model_params",
        "ChatParams": "pln_chat_params", "ServerParams": "pln_server_params", "ServerInfo": "pln_server_info",
        "Bolt11Invoice": "pln_bolt11_invoice", "L402Terms": "pln_l402_terms", "L402Request": "pln_l402_request",
        "L402Grant": "pln_l402_grant", "MacaroonParams": "pln_macaroon_params", "L402Challenge": "pln_l402_challenge",
        "L402Token": "pln_l402_token", "PayoutParams": "pln_payout_params", "PayoutWeight": "pln_payout_weight",
        "PayoutShare": "pln_payout_share", "InvoiceParams": "pln_invoice_params", "PayParams": "pln_pay_params",
        "Payment": "pln_payment", "InvoiceStatus": "pln_invoice_status",
    }

    def test_ctypes_declarations_match_the_header(self):
        # The C compiler's layout (tests/python/struct_layout.c) against ctypes', field by field.
        from petalsln import _native
        printed = subprocess.run([os.environ["PETALSLN_STRUCT_LAYOUT"]], capture_output=True, text=True,
                                 check=True).stdout.split("\n")
        layout = {}
        for line in filter(None, printed):
            kind, name, *numbers = line.split()
            layout[name] = tuple(int(n) for n in numbers)
        for py_name, c_name in self.STRUCTS.items():
            cls = getattr(_native, py_name)
            with self.subTest(struct=c_name):
                self.assertEqual(ctypes.sizeof(cls), layout[c_name][0])
                for field, *_ in cls._fields_:
                    descriptor = getattr(cls, field)
                    self.assertEqual((descriptor.offset, descriptor.size), layout[f"{c_name}.{field}"], field)


class LocalModel(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.models = {name: petalsln.Model(os.path.join(FIXTURES, name), threads=1)
                      for name in ("tiny-llama3", "tiny-smollm2")}

    @classmethod
    def tearDownClass(cls):
        for m in cls.models.values():
            m.close()

    def test_greedy_reproduces_the_fixtures(self):
        for name, model in self.models.items():
            for case in reference(os.path.join(FIXTURES, name))["greedy"]:
                with self.subTest(model=name, text=case["text"], rp=case["repetition_penalty"]):
                    self.assertEqual(model.tokenize(case["text"], raw=True), case["ids"])
                    out = model.generate(case["text"], raw=True, max_new_tokens=len(case["new_tokens"]),
                                         repetition_penalty=case["repetition_penalty"])
                    self.assertEqual(out["prompt_ids"], case["ids"])
                    self.assertEqual(out["new_ids"], case["new_tokens"])
                    # From ids too, without the end-of-sequence stop.
                    again = model.generate(case["ids"], max_new_tokens=len(case["new_tokens"]), stop_at_eos=False,
                                           repetition_penalty=case["repetition_penalty"])
                    self.assertEqual(again["new_ids"], case["new_tokens"])

    def test_stream_yields_the_same_tokens_and_returns_the_result(self):
        case = reference(LLAMA3)["greedy"][0]
        model = self.models["tiny-llama3"]
        stream = model.stream(case["ids"], max_new_tokens=len(case["new_tokens"]))
        seen = []
        try:
            while True:
                seen.append(next(stream))
        except StopIteration as stop:
            result = stop.value
        self.assertEqual([t.id for t in seen], case["new_tokens"])
        self.assertEqual(result["new_ids"], case["new_tokens"])
        self.assertEqual("".join(t.text for t in seen), result["text"])

    def test_breaking_out_of_a_stream_cancels_it(self):
        model = self.models["tiny-llama3"]
        ids = reference(LLAMA3)["greedy"][0]["ids"]
        got = []
        for token in model.stream(ids, max_new_tokens=50):
            got.append(token.id)
            if len(got) == 2:
                break
        # The model is free again at once, and a callback returning False cancels too.
        out = model.generate(ids, max_new_tokens=50, on_token=lambda t: False)
        self.assertEqual(out["stop_reason"], "cancelled")
        self.assertEqual(len(out["new_ids"]), 1)

    def test_an_exception_in_the_callback_propagates(self):
        model = self.models["tiny-llama3"]

        def boom(token):
            raise KeyError("from the callback")

        with self.assertRaises(KeyError):
            model.generate("hi", raw=True, on_token=boom)
        # Using the generating model from its own callback is refused, not a deadlock.
        with self.assertRaises(petalsln.InvalidArgument) as e:
            model.generate("hi", raw=True, on_token=lambda t: model.tokenize("x"))
        self.assertIn("callback", str(e.exception))
        self.assertEqual(len(model.generate("hi", raw=True, max_new_tokens=3)["new_ids"]), 3)

    def test_sampling_is_seeded(self):
        model = self.models["tiny-smollm2"]
        a = model.generate("Once upon", raw=True, max_new_tokens=12, temperature=0.9, top_k=40, top_p=0.95, seed=7)
        b = model.generate("Once upon", raw=True, max_new_tokens=12, temperature=0.9, top_k=40, top_p=0.95, seed=7)
        self.assertEqual(a["new_ids"], b["new_ids"])

    def test_demo_model_answers(self):
        with petalsln.Model(DEMO) as demo:
            case = reference(DEMO)["greedy"][0]
            out = demo.generate(case["question"], max_new_tokens=64)
            self.assertEqual(out["text"], case["text"])
            self.assertEqual(out["stop_reason"], "stop_token")

    def test_demo_model_answers_in_compact_weights(self):
        # The demo model is trained: its margins survive rounding, so every format answers as f32.
        case = reference(DEMO)["greedy"][0]
        for weights in ("bf16", "f16", "int8"):
            with self.subTest(weights=weights), petalsln.Model(DEMO, weights=weights) as demo:
                out = demo.generate(case["question"], max_new_tokens=64)
                self.assertEqual(out["text"], case["text"])
                self.assertEqual(out["stop_reason"], "stop_token")


class WrongCalls(unittest.TestCase):
    def test_errors_carry_the_library_message(self):
        with self.assertRaises(petalsln.NotFound) as e:
            petalsln.Model("/nonexistent/model/dir")
        self.assertIn("/nonexistent/model/dir", str(e.exception))
        self.assertEqual(e.exception.status, "not_found")
        with self.assertRaises(petalsln.InvalidFormat) as e:
            petalsln.decode_invoice("lnbc1notaninvoice")
        self.assertTrue(e.exception.message)
        with self.assertRaises(petalsln.Unsupported):
            petalsln.Wallet("nosuchscheme:x")
        with self.assertRaises(petalsln.InvalidArgument) as e:
            petalsln.Chat(LLAMA3, peers="127.0.0.1:1", budget_msat=1000)
        self.assertIn("wallet", str(e.exception))
        with self.assertRaises(petalsln.InvalidArgument):
            petalsln.split_payout(1000, {})

    def test_bad_values_raise_before_reaching_c(self):
        with self.assertRaises(TypeError):
            petalsln.decode_invoice(None)
        with self.assertRaises(TypeError):
            petalsln.decode_invoice(b"bytes")
        with self.assertRaises(ValueError):
            petalsln.decode_invoice("a\0b")
        with self.assertRaises(petalsln.InvalidArgument):
            petalsln.Server(LLAMA3, blocks=(0, 2), port=70000)
        with self.assertRaises(petalsln.InvalidArgument):
            petalsln.Server(LLAMA3, blocks=(0, 2), open_timeout_s=0)
        with self.assertRaises(petalsln.InvalidArgument):
            petalsln.Chat(LLAMA3, peers="127.0.0.1:1", server_timeout_s=0)
        with self.assertRaises(TypeError):
            petalsln.Chat(LLAMA3, peers="127.0.0.1:1", server_timeout_s="30")
        with self.assertRaises(petalsln.InvalidArgument) as e:
            petalsln.mint_macaroon(b"k", "abc", model="m", peer="ab" * 32, blocks=(0, 1), credit=1, expires=1)
        self.assertIn("payment_hash", str(e.exception))

    def test_unknown_weights_are_refused_with_the_allowed_names(self):
        message = 'weights "fp8" is not one of f32, bf16, f16, int8'
        for make in (lambda: petalsln.Model(LLAMA3, weights="fp8"),
                     lambda: petalsln.Chat(LLAMA3, peers="127.0.0.1:1", weights="fp8"),
                     lambda: petalsln.Server(LLAMA3, blocks=(0, 2), weights="fp8")):
            with self.assertRaises(petalsln.InvalidArgument) as e:
                make()
            self.assertIsInstance(e.exception, ValueError)
            self.assertEqual(str(e.exception), message)
        for wrong in (None, 8, b"int8"):
            with self.assertRaises(TypeError):
                petalsln.Model(LLAMA3, weights=wrong)

    def test_the_library_refuses_unknown_weights_itself(self):
        # Past the package's own check: the C ABI refuses the name for each params struct.
        from petalsln import _native
        lib = _native.lib()
        out = ctypes.c_void_p()
        model = lib.pln_model_default_params()
        model.weights = b"fp8"
        chat = lib.pln_chat_default_params()
        chat.peers = b"127.0.0.1:1"
        chat.weights = b"fp8"
        server = lib.pln_server_default_params()
        server.block_end = 2
        server.weights = b"fp8"
        for name, status in (("model", lib.pln_model_open(LLAMA3.encode(), ctypes.byref(model), ctypes.byref(out))),
                             ("chat", lib.pln_chat_open(LLAMA3.encode(), ctypes.byref(chat), ctypes.byref(out))),
                             ("server", lib.pln_server_start(LLAMA3.encode(), ctypes.byref(server),
                                                             ctypes.byref(out)))):
            with self.subTest(params=name):
                self.assertEqual(status, 1)  # PLN_ERR_INVALID_ARGUMENT
                self.assertIn(b'weights "fp8" is not one of f32, bf16, f16, int8', lib.pln_last_error())
                self.assertIsNone(out.value)

    def test_the_library_names_what_it_refuses(self):
        with self.assertRaises(petalsln.InvalidArgument) as e:
            petalsln.Server(LLAMA3, blocks=(2, 9))
        self.assertIn("6 blocks", str(e.exception))
        with self.assertRaises(petalsln.InvalidArgument) as e:
            petalsln.Chat(LLAMA3)
        self.assertIn("peers", str(e.exception))

    def test_closed_and_misused_objects_raise(self):
        model = petalsln.Model(LLAMA3)
        with self.assertRaises(petalsln.InvalidArgument):
            model.generate("x", raw=True, temperature=0.0)
        with self.assertRaises(petalsln.OutOfRange):
            model.generate([1, 100000])
        with self.assertRaises(petalsln.InvalidArgument):
            model.generate("x", greedy=True, seed=3)
        model.close()
        model.close()
        with self.assertRaises(petalsln.InvalidArgument) as e:
            model.generate("x")
        self.assertIn("closed", str(e.exception))


class Lightning(unittest.TestCase):
    def test_invoice_decodes(self):
        # BOLT #11's examples, as the C++ tests keep them.
        with open(os.path.join(FIXTURES, "..", "lightning", "bolt11_vectors.json"), encoding="utf-8") as f:
            vector = next(v for v in json.load(f)["valid"] if v["name"] == "donation of any amount")
        inv = vector["invoice"]
        d = petalsln.decode_invoice(inv)
        self.assertEqual(d["network"], "mainnet")
        self.assertIsNone(d["amount_msat"])
        self.assertEqual(d["payment_hash"], "0001020304050607080900010203040506070809000102030405060708090102")
        self.assertEqual(d["description"], "Please consider supporting this project")
        self.assertEqual(d["payee"], "03e7156ae33b0a208d0744199163177e909e80176e55d97a2f221ede0f934dd9ad")
        self.assertEqual((d["timestamp"], d["expiry"], d["expires_at"]), (1496314658, 3600, 1496314658 + 3600))
        self.assertEqual((d["features"], d["route_hints"], d["min_final_cltv_expiry"]), ([8, 14], 0, 18))
        self.assertIsNone(d["description_hash"])
        self.assertTrue(d["signature_valid"])

    def test_macaroon_round_trip(self):
        key = os.urandom(32)
        peer = "ab" * 32
        mac = petalsln.mint_macaroon(key, "cd" * 32, model="m", peer=peer, blocks=(0, 4), credit=100, expires=2000000000)
        info = petalsln.inspect_macaroon(mac)
        self.assertEqual(info["payment_hash"], "cd" * 32)
        self.assertIn("blocks=0-4", info["caveats"])
        granted = petalsln.verify_macaroon(mac, key, model="m", peer=peer, blocks=(1, 3), now=1900000000)
        self.assertEqual(granted["credit"], 100)
        self.assertEqual(granted["blocks"], [0, 4])
        narrowed = petalsln.add_caveat(mac, "credit=10")
        self.assertEqual(petalsln.verify_macaroon(narrowed, key, model="m", peer=peer, blocks=(1, 3),
                                                  now=1900000000)["credit"], 10)
        with self.assertRaises(petalsln.Denied) as e:
            petalsln.verify_macaroon(mac, key, model="other", peer=peer, blocks=(1, 3), now=1900000000)
        self.assertIn("model", e.exception.message)
        with self.assertRaises(petalsln.Denied):
            petalsln.verify_macaroon(mac, b"wrong key", model="m", peer=peer, blocks=(1, 3), now=1900000000)
        with self.assertRaises(petalsln.Denied):
            petalsln.verify_macaroon(mac, key, model="m", peer=peer, blocks=(1, 3), now=2000000000)

    def test_payout_splits_exactly(self):
        split = petalsln.split_payout(1000, {"alice": 1, "bob": 2}, fee_basis_points=100)
        self.assertEqual(split["fee_msat"], 10)
        self.assertEqual({p["payee"]: p["amount_msat"] for p in split["payees"]}, {"alice": 330, "bob": 660})
        for amount in (1, 7, 100, 999_999_999_999):
            s = petalsln.split_payout(amount, [("a", 3), ("b", 3), ("c", 1), ("a", 2)], fee_basis_points=250,
                                      fee_fixed_msat=1)
            self.assertEqual(s["fee_msat"] + sum(p["amount_msat"] for p in s["payees"]), amount)
            self.assertEqual(sorted(p["payee"] for p in s["payees"]), ["a", "b", "c"])

    def test_devnet_wallet_and_l402_headers(self):
        with tempfile.TemporaryDirectory() as tmp:
            devnet = os.path.join(tmp, "devnet.db")
            payer = petalsln.create_devnet_account(devnet, "payer", 1_000_000)
            payer_uri = payer["uri"]
            self.assertEqual((payer["name"], payer["balance_msat"], len(payer["node_id"])), ("payer", 1_000_000, 66))
            shop_uri = petalsln.create_devnet_account(devnet, "shop")["uri"]
            with petalsln.Wallet(payer_uri) as payer, petalsln.Wallet(shop_uri) as shop:
                inv = shop.create_invoice(5000, memo="tea")
                self.assertEqual(petalsln.decode_invoice(inv["bolt11"])["amount_msat"], 5000)
                self.assertFalse(shop.lookup_invoice(inv["payment_hash"])["settled"])
                paid = payer.pay(inv["bolt11"])
                self.assertEqual(paid["status"], "succeeded")
                self.assertEqual((paid["payment_hash"], paid["amount_msat"], paid["fee_msat"], paid["failure_reason"]),
                                 (inv["payment_hash"], 5000, 0, ""))
                again = payer.pay(inv["bolt11"], timeout_s=5)
                self.assertEqual((again["status"], again["preimage"]), ("failed", None))
                self.assertTrue(again["failure_reason"])
                self.assertEqual(payer.balance_msat, 995_000)
                self.assertTrue(shop.lookup_invoice(inv["payment_hash"])["settled"])
                with self.assertRaises(petalsln.NotFound):
                    shop.lookup_invoice("00" * 32)
                with self.assertRaises(petalsln.InvalidArgument):
                    shop.lookup_invoice("00")
                short = petalsln.decode_invoice(shop.create_invoice(expiry_s=1.5)["bolt11"])
                self.assertEqual((short["amount_msat"], short["expiry"], short["description"]), (None, 2, ""))
                key = b"server root key"
                mac = petalsln.mint_macaroon(key, inv["payment_hash"], model="m", peer="ef" * 32, blocks=(0, 2),
                                             credit=50, expires=4000000000)
                challenge = petalsln.parse_l402_challenge(f'L402 macaroon="{mac}", invoice="{inv["bolt11"]}"')
                self.assertEqual(challenge["payment_hash"], inv["payment_hash"])
                header = f"L402 {mac}:{paid['preimage']}"
                token = petalsln.parse_l402_token(header)
                self.assertEqual((token["macaroon"], token["preimage"], token["payment_hash"], token["preimage_matches"]),
                                 (mac, paid["preimage"], inv["payment_hash"], True))
                self.assertEqual(challenge["macaroon"], mac)
                self.assertEqual(challenge["invoice"], inv["bolt11"])
                self.assertEqual(petalsln.verify_l402_token(header, key, model="m", peer="ef" * 32, blocks=(0, 2)),
                                 {"service": "petalsln", "model": "m", "peer": "ef" * 32, "blocks": [0, 2],
                                  "credit": 50, "expires": 4000000000})
                forged = f"L402 {mac}:{'00' * 32}"
                with self.assertRaises(petalsln.Denied):
                    petalsln.verify_l402_token(forged, key, model="m", peer="ef" * 32, blocks=(0, 2))


class WeightFormats(unittest.TestCase):
    def test_an_int8_server_announces_int8_and_less_memory_per_block(self):
        # Each server starts a swarm of its own; only their announcements are compared.
        with petalsln.Server(LLAMA3, blocks=(0, 2)) as f32, \
                petalsln.Server(LLAMA3, blocks=(0, 2), weights="int8") as int8:
            self.assertEqual((f32.weights, int8.weights), ("f32", "int8"))
            self.assertEqual(f32.blocks, int8.blocks)
            self.assertGreater(int8.weight_bytes_per_block, 0)
            # A byte and a 32nd of a float32 scale per weight, against four bytes.
            self.assertLess(int8.weight_bytes_per_block * 2, f32.weight_bytes_per_block)

    def test_a_dht_only_node_announces_no_weights(self):
        with petalsln.Server(dht_only=True) as node:
            self.assertEqual((node.weights, node.weight_bytes_per_block), ("", 0))

    def test_a_chat_keeps_its_own_weights_in_another_format(self):
        # The chat's head in bf16 opens against f32 servers (their format is their own).
        with petalsln.Server(LLAMA3, blocks=(0, 6)) as server, \
                petalsln.Chat(LLAMA3, peers=server.endpoint, weights="bf16") as chat:
            out = chat.generate("The quick brown fox", raw=True, max_new_tokens=3, stop_at_eos=False)
            self.assertEqual(len(out["new_ids"]), 3)
            self.assertEqual(out["route"][0]["weights"], "f32")


class PaidSwarm(unittest.TestCase):
    def test_three_servers_serve_a_paid_chat(self):
        case = reference(LLAMA3)["greedy"][0]
        with tempfile.TemporaryDirectory() as tmp:
            devnet = os.path.join(tmp, "devnet.db")
            client_uri = petalsln.create_devnet_account(devnet, "client", 10_000_000)["uri"]
            servers = []
            try:
                for i, blocks in enumerate([(0, 2), (2, 4), (4, 6)]):
                    uri = petalsln.create_devnet_account(devnet, f"server{i}")["uri"]
                    servers.append(petalsln.Server(
                        LLAMA3, blocks=blocks, initial_peers=servers[0].dht_address if servers else None,
                        price_msat=2000, wallet=uri, paywall_store=os.path.join(tmp, f"paywall{i}.db"),
                        credit_block_tokens=100, lightning_address=f"server{i}@example.com",
                        max_sessions_per_peer=2, max_streams_per_peer=4, max_unpaid_per_peer=2,
                        open_timeout_s=5, idle_timeout_s=60))
                self.assertEqual([s.blocks for s in servers], [(0, 2), (2, 4), (4, 6)])
                self.assertEqual([s.weights for s in servers], ["f32"] * 3)
                with petalsln.Chat(LLAMA3, initial_peers=[servers[0].dht_address], wallet=client_uri,
                                   budget_msat=100_000) as chat:
                    streamed = []
                    out = chat.generate(case["text"], raw=True, max_new_tokens=len(case["new_tokens"]),
                                        on_token=streamed.append)
                    self.assertEqual(out["new_ids"], case["new_tokens"])
                    self.assertEqual([t.id for t in streamed], case["new_tokens"])
                    self.assertEqual([hop["blocks"] for hop in out["route"]], [[0, 2], [2, 4], [4, 6]])
                    self.assertEqual({p["peer"] for p in out["payments"]}, {s.peer_id for s in servers})
                    self.assertEqual({w["lightning_address"] for w in out["work"]},
                                     {f"server{i}@example.com" for i in range(3)})
                    spent = chat.spent_msat
                    self.assertEqual(spent, sum(p["amount_msat"] + p["fee_msat"] for p in out["payments"]))
                    self.assertEqual(chat.receipt()["payments"], out["payments"])
                with petalsln.Wallet(client_uri) as client:
                    self.assertEqual(client.balance_msat, 10_000_000 - spent)
                earned = 0
                for i in range(3):
                    with petalsln.Wallet(f"devnet:{devnet}?account=server{i}") as w:
                        self.assertGreater(w.balance_msat, 0)
                        earned += w.balance_msat
                self.assertEqual(earned, spent)
                # Over budget: refused before paying anything more.
                with petalsln.Chat(LLAMA3, initial_peers=servers[0].dht_address, wallet=client_uri,
                                   budget_msat=10) as poor:
                    with self.assertRaises(petalsln.OutOfRange) as e:
                        poor.generate(case["text"], raw=True, max_new_tokens=4)
                    self.assertIn("budget", str(e.exception))
                    self.assertEqual(poor.spent_msat, 0)
            finally:
                for s in servers:
                    s.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
