"""The Python face of the C ABI: handles as classes with close() and context managers,
structured results as dicts (built from the C result structs, or the JSON of the few C
functions that return JSON), failures as exceptions. Hashes, preimages and node ids are lower-case
hex strings here, raw bytes in C."""
from __future__ import annotations

import contextlib
import ctypes
import json
import os
import queue
import threading
from ctypes import byref, c_int32, c_size_t, c_uint8, c_uint64, c_void_p
from typing import Any, Callable, Dict, Generator, Iterable, List, NamedTuple, Optional, Sequence, Tuple, Union

from . import _native
from ._errors import InvalidArgument, error_for

Prompt = Union[str, Sequence[int]]


class Token(NamedTuple):
    """One generated token: its id and the text it completes (may be "" while a multi-byte
    character is incomplete)."""
    id: int
    text: str


def library_version() -> str:
    """Returns the version of the loaded C library (e.g. "0.1.0")."""
    return _native.lib().pln_version().decode()


def _check(status: int) -> None:
    if status != 0:
        raise error_for(status, _native.lib().pln_last_error().decode("utf-8", errors="replace"))


def _take(ptr: c_void_p) -> str:
    """Copies and releases a string the library returned through a char** out-parameter."""
    if not ptr.value:
        return ""
    try:
        return ctypes.string_at(ptr.value).decode("utf-8", errors="replace")
    finally:
        _native.lib().pln_string_free(ptr)


def _take_json(ptr: c_void_p) -> Dict[str, Any]:
    return json.loads(_take(ptr))


def _text(value: Optional[str], name: str, *, allow_none: bool = True) -> Optional[bytes]:
    if value is None:
        if allow_none:
            return None
        raise TypeError(f"{name} must be a str, not None")
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    if "\0" in value:
        raise ValueError(f"{name} must not contain NUL characters")
    return value.encode("utf-8")


def _list(value: Union[None, str, Iterable[str]], name: str) -> Optional[bytes]:
    """"host:port" lists are given as one comma-separated string or as an iterable of strings."""
    if value is None:
        return None
    if not isinstance(value, str):
        value = ",".join(value)
    return _text(value, name)


def _int(value: Any, name: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if not lo <= value <= hi:
        raise InvalidArgument(f"{name} must be in {lo}..{hi}, got {value}")
    return value


U32 = (1 << 32) - 1
U64 = (1 << 64) - 1
I32 = (1 << 31) - 1
I64 = (1 << 63) - 1


# The weight formats the C ABI knows (its params' `weights`), in the order its message lists them.
_WEIGHT_FORMATS = ("f32", "bf16", "f16", "int8")


def _weights(value: Any) -> bytes:
    """A weight format name, refused here with the library's own message so that nothing is
    loaded for a misspelt one."""
    if not isinstance(value, str):
        raise TypeError(f"weights must be a str, not {type(value).__name__}")
    if value not in _WEIGHT_FORMATS:
        raise InvalidArgument(f'weights "{value}" is not one of {", ".join(_WEIGHT_FORMATS)}')
    return value.encode()


def _ms(seconds: Any, name: str) -> int:
    """Seconds (an int or a float) as the C ABI's milliseconds, above 0."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError(f"{name} must be a number of seconds, not {type(seconds).__name__}")
    ms = int(round(seconds * 1000))
    if not 0 < ms <= I64:
        raise InvalidArgument(f"{name} must be above 0 and at most {I64 // 1000} seconds, got {seconds}")
    return ms


def _hex(data: Any) -> str:
    return bytes(data).hex()


def _bytes(value: str, name: str, size: int) -> Any:
    """A hex string of @size bytes as a C uint8_t array."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str of {2 * size} hex digits, not {type(value).__name__}")
    try:
        data = bytes.fromhex(value)
    except ValueError:
        data = b""
    if len(data) != size:
        raise InvalidArgument(f"{name} must be {2 * size} hex digits")
    return (c_uint8 * size).from_buffer_copy(data)


class _Handle:
    """A C handle released exactly once, by close(), the context manager, or collection."""

    _free_fn = ""

    def __init__(self) -> None:
        self._ptr = c_void_p()
        self._busy = threading.Lock()  # one C call on a handle at a time (handles are not thread-safe)
        self._owner: Optional[int] = None

    def _handle(self) -> c_void_p:
        if not self._ptr.value:
            raise InvalidArgument(f"this {type(self).__name__} is closed")
        return self._ptr

    @contextlib.contextmanager
    def _use(self):
        """Holds the handle for one C call. Another thread waits; the thread already in a call
        (a token callback using its own object) gets an exception instead of a deadlock."""
        if self._owner == threading.get_ident():
            raise InvalidArgument(f"this {type(self).__name__} is in use by a call on this thread "
                                  "(a token callback cannot use the object that is generating)")
        with self._busy:
            self._owner = threading.get_ident()
            try:
                yield self._handle()
            finally:
                self._owner = None

    def close(self) -> None:
        """Releases the object; further calls raise InvalidArgument. Idempotent."""
        if self._ptr.value:
            with self._use():
                ptr, self._ptr = self._ptr, c_void_p()
                getattr(_native.lib(), self._free_fn)(ptr)

    @property
    def closed(self) -> bool:
        """True once close() has run."""
        return not self._ptr.value

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


def _generate_params(max_new_tokens: int = 128, *, greedy: Optional[bool] = None, temperature: Optional[float] = None,
                     top_k: Optional[int] = None, top_p: Optional[float] = None, repetition_penalty: float = 1.0,
                     seed: Optional[int] = None, raw: bool = False, stop_at_eos: bool = True) -> _native.GenerateParams:
    p = _native.lib().pln_generate_default_params()
    p.max_new_tokens = _int(max_new_tokens, "max_new_tokens", 0, U32)
    sampling = any(v is not None for v in (temperature, top_k, top_p, seed))
    if greedy and sampling:
        raise InvalidArgument("greedy=True cannot be combined with temperature, top_k, top_p or seed")
    p.greedy = not (greedy is False or (greedy is None and sampling))
    if temperature is not None:
        p.temperature = float(temperature)
    if top_k is not None:
        p.top_k = _int(top_k, "top_k", 0, I32)
    if top_p is not None:
        p.top_p = float(top_p)
    p.repetition_penalty = float(repetition_penalty)
    if seed is not None:
        p.seed = _int(seed, "seed", 0, U64)
    p.raw = bool(raw)
    p.stop_at_eos = bool(stop_at_eos)
    return p


def _take_generation(g: _native.Generation) -> Dict[str, Any]:
    """Copies a pln_generation into the result dict and releases it."""
    try:
        return {"prompt_ids": list(g.prompt_ids[:g.n_prompt_ids]) if g.n_prompt_ids else [],
                "new_ids": list(g.new_ids[:g.n_new_ids]) if g.n_new_ids else [],
                "text": ctypes.string_at(g.text).decode("utf-8", errors="replace") if g.text else "",
                "stop_reason": _native.STOP_REASONS.get(g.stop_reason, "unknown")}
    finally:
        _native.lib().pln_generation_clear(byref(g))


class _Generating(_Handle):
    """Generation shared by Model and Chat (their C functions have the same shape)."""

    _generate_fn = ""

    def _run(self, prompt: Prompt, params: _native.GenerateParams,
             on_token: Optional[Callable[[Token], Optional[bool]]]) -> Dict[str, Any]:
        failure: List[BaseException] = []

        def trampoline(token_id: int, piece: int, length: int, _user: int) -> bool:
            if on_token is None:
                return True
            try:
                text = ctypes.string_at(piece, length).decode("utf-8", errors="replace") if length else ""
                return on_token(Token(token_id, text)) is not False
            except BaseException as e:  # an exception must not unwind through C: stop and re-raise
                failure.append(e)
                return False

        callback = _native.TOKEN_CALLBACK(trampoline)
        out = _native.Generation()
        lib = _native.lib()
        with self._use() as handle:
            if isinstance(prompt, str):
                status = getattr(lib, self._generate_fn)(handle, _text(prompt, "prompt"), byref(params), callback,
                                                         None, byref(out))
            else:
                status = self._generate_ids(handle, prompt, params, callback, out)
            result = _take_generation(out) if status == 0 else {}
            if status == 0 and not failure:
                result.update(self._after_generation(handle))
        if failure:
            raise failure[0]
        _check(status)
        return result

    def _generate_ids(self, handle, prompt, params, callback, out) -> int:
        raise TypeError(f"prompt must be a str, not {type(prompt).__name__}")

    def _after_generation(self, handle) -> Dict[str, Any]:
        """Members added to every generation's result (a Chat's receipt)."""
        return {}

    def generate(self, prompt: Prompt, *, on_token: Optional[Callable[[Token], Optional[bool]]] = None,
                 **options: Any) -> Dict[str, Any]:
        """Generates a reply to @prompt (a str, through the chat template unless raw=True; a
        Model also takes a list of token ids) and returns the result: {"prompt_ids", "new_ids",
        "text", "stop_reason"}, plus "route", "payments" and "work" for a Chat. @on_token is
        called with each Token; returning False stops generation (stop_reason "cancelled").
        Options: max_new_tokens=128, greedy, temperature, top_k, top_p, repetition_penalty=1,
        seed, raw=False, stop_at_eos=True (sampling when any of temperature/top_k/top_p/seed is
        given). Raises a PetalslnError subclass with the library's message on failure."""
        return self._run(prompt, _generate_params(**options), on_token)

    def stream(self, prompt: Prompt, **options: Any) -> Generator[Token, None, Dict[str, Any]]:
        """Yields each generated Token as it is produced; the generator's return value
        (StopIteration.value) is the result generate() would return. Closing the generator early
        (break, close(), garbage collection) cancels the generation. Same options as generate()."""
        params = _generate_params(**options)
        tokens: "queue.Queue[Tuple[str, Any]]" = queue.Queue()
        cancel = threading.Event()

        def on_token(token: Token) -> bool:
            tokens.put(("token", token))
            return not cancel.is_set()

        def worker() -> None:
            try:
                tokens.put(("done", self._run(prompt, params, on_token)))
            except BaseException as e:
                tokens.put(("error", e))

        thread = threading.Thread(target=worker, name="petalsln-generate", daemon=True)
        thread.start()
        try:
            while True:
                kind, value = tokens.get()
                if kind == "token":
                    yield value
                elif kind == "done":
                    return value
                else:
                    raise value
        finally:
            cancel.set()
            thread.join()


class Model(_Generating):
    """A Hugging Face Llama-family model folder with every block loaded in this process."""

    _free_fn = "pln_model_free"
    _generate_fn = "pln_model_generate"

    def __init__(self, path: str, *, threads: int = 0, weights: str = "f32") -> None:
        """Opens the model folder @path. @threads sets the compute threads of the whole process
        (0 leaves them as they are). @weights is how the weights are kept in memory: "f32",
        "bf16", "f16" or "int8" (weight-only int8, a float32 scale per 32 weights; float32
        accumulation in every format). Raises NotFound, InvalidFormat or Unsupported for a
        missing or bad folder, InvalidArgument for an unknown @weights."""
        super().__init__()
        lib = _native.lib()
        params = lib.pln_model_default_params()
        params.n_threads = _int(threads, "threads", 0, 1 << 16)
        params.weights = _weights(weights)
        _check(lib.pln_model_open(_text(path, "path", allow_none=False), byref(params), byref(self._ptr)))

    def tokenize(self, text: str, *, raw: bool = False) -> List[int]:
        """Returns the token ids of @text (through the chat template as one user message, or as
        is when @raw)."""
        lib = _native.lib()
        encoded = _text(text, "text", allow_none=False)
        needed = c_size_t(0)
        with self._use() as handle:
            status = lib.pln_model_tokenize(handle, encoded, bool(raw), None, 0, byref(needed))
            if status not in (0, 5):  # 5: out of range, the array (none) is too small
                _check(status)
            ids = (c_int32 * max(needed.value, 1))()
            _check(lib.pln_model_tokenize(handle, encoded, bool(raw), ids, len(ids), byref(needed)))
        return list(ids[:needed.value])

    def _generate_ids(self, handle, prompt, params, callback, out) -> int:
        ids = [_int(i, "token id", -(1 << 31), I32) for i in prompt]
        array = (c_int32 * max(len(ids), 1))(*ids)
        return _native.lib().pln_model_generate_tokens(handle, array, len(ids), byref(params), callback, None, byref(out))


class Chat(_Generating):
    """A chat whose blocks run on the swarm: contributor servers found through the DHT
    (initial_peers) or given directly (peers), priced ones paid from a wallet within a budget."""

    _free_fn = "pln_chat_free"
    _generate_fn = "pln_chat_generate"

    def __init__(self, model_dir: str, *, initial_peers: Union[None, str, Iterable[str]] = None,
                 peers: Union[None, str, Iterable[str]] = None, model_name: Optional[str] = None,
                 wallet: Optional[str] = None, budget_msat: int = 0, max_price_msat: Optional[int] = None,
                 server_timeout_s: float = 30.0, dht_connect_timeout_s: float = 10.0,
                 weights: str = "f32") -> None:
        """Loads the client side of @model_dir and joins the DHT (or checks @peers). @wallet is a
        wallet URI such as "devnet:FILE?account=NAME"; @budget_msat the most the whole chat may
        spend; @max_price_msat skips servers charging more per 1000 block-tokens;
        @server_timeout_s is how long a server may take for one step before the chat fails over
        (and for an Info answer, and for a route to become available). @weights is how the
        weights computed in this process (the head's) are kept in memory: "f32", "bf16", "f16"
        or "int8" (servers compute in their own, announced format); an unknown one raises
        InvalidArgument."""
        super().__init__()
        lib = _native.lib()
        p = lib.pln_chat_default_params()
        p.initial_peers = _list(initial_peers, "initial_peers")
        p.peers = _list(peers, "peers")
        p.model_name = _text(model_name, "model_name")
        p.wallet_uri = _text(wallet, "wallet")
        p.budget_msat = _int(budget_msat, "budget_msat", 0, U64)
        p.max_price_msat = U64 if max_price_msat is None else _int(max_price_msat, "max_price_msat", 0, U64 - 1)
        p.server_timeout_ms = _ms(server_timeout_s, "server_timeout_s")
        p.dht_connect_timeout_ms = _ms(dht_connect_timeout_s, "dht_connect_timeout_s")
        p.weights = _weights(weights)
        _check(lib.pln_chat_open(_text(model_dir, "model_dir", allow_none=False), byref(p), byref(self._ptr)))

    def _after_generation(self, handle) -> Dict[str, Any]:
        return self._receipt(handle)

    @staticmethod
    def _receipt(handle) -> Dict[str, Any]:
        out = c_void_p()
        _check(_native.lib().pln_chat_receipt(handle, byref(out)))
        return _take_json(out)

    def receipt(self) -> Dict[str, Any]:
        """Returns {"route", "payments", "work"} so far (see generate())."""
        with self._use() as handle:
            return self._receipt(handle)

    @property
    def spent_msat(self) -> int:
        """Millisatoshis paid so far in this chat, fees included."""
        value = c_uint64()
        with self._use() as handle:
            _check(_native.lib().pln_chat_spent_msat(handle, byref(value)))
        return value.value


class Server(_Handle):
    """A contributor server serving a range of a model's blocks (or, with dht_only, a DHT
    bootstrap node), announced in the DHT until stop() or close()."""

    _free_fn = "pln_server_free"

    def __init__(self, model_dir: Optional[str] = None, *, blocks: Optional[Tuple[int, int]] = None,
                 num_blocks: int = 0, dht_only: bool = False, initial_peers: Union[None, str, Iterable[str]] = None,
                 host: str = "127.0.0.1", port: int = 0, dht_port: int = 0, model_name: Optional[str] = None,
                 identity_file: Optional[str] = None, public_name: Optional[str] = None,
                 lightning_address: Optional[str] = None, throughput: float = 0.0, max_sessions: int = 16,
                 max_sessions_per_peer: int = 0, max_streams_per_peer: int = 0, max_unpaid_per_peer: int = 4,
                 open_timeout_s: float = 10.0, idle_timeout_s: float = 300.0, cache_mb: int = 512,
                 max_batch: int = 8, max_length: int = 0, price_msat: int = 0, wallet: Optional[str] = None,
                 paywall_store: Optional[str] = None, credit_block_tokens: int = 20000,
                 weights: str = "f32") -> None:
        """Starts serving blocks [a, b) = @blocks of @model_dir (or the @num_blocks the swarm
        covers least), joining the DHT through @initial_peers (none: a new swarm), with the
        blocks' weights kept in memory as @weights ("f32", "bf16", "f16" or "int8"; announced,
        and the throughput measured with it; an unknown one raises InvalidArgument). A priced
        server (@price_msat per 1000 block-tokens) needs @wallet (a URI) and @paywall_store (or
        @identity_file). What one address may hold: @max_sessions_per_peer (0: 3/4 of
        @max_sessions), @max_streams_per_peer (0: that + 8), @max_unpaid_per_peer payment
        challenges; a stream must open its session within @open_timeout_s, and a session idle
        for @idle_timeout_s is closed."""
        super().__init__()
        p = _native.lib().pln_server_default_params()
        p.dht_only = bool(dht_only)
        if blocks is not None:
            if len(blocks) != 2:
                raise InvalidArgument("blocks must be a pair (begin, end)")
            p.block_begin = _int(blocks[0], "blocks[0]", 0, I32)
            p.block_end = _int(blocks[1], "blocks[1]", 0, I32)
        p.num_blocks = _int(num_blocks, "num_blocks", 0, I32)
        p.host = _text(host, "host", allow_none=False)
        p.port = _int(port, "port", 0, 65535)
        p.dht_port = _int(dht_port, "dht_port", 0, 65535)
        p.initial_peers = _list(initial_peers, "initial_peers")
        p.model_name = _text(model_name, "model_name")
        p.identity_file = _text(identity_file, "identity_file")
        p.public_name = _text(public_name, "public_name")
        p.lightning_address = _text(lightning_address, "lightning_address")
        p.throughput = float(throughput)
        self._set_limits(p, max_sessions, max_sessions_per_peer, max_streams_per_peer, max_unpaid_per_peer,
                         open_timeout_s, idle_timeout_s, cache_mb, max_batch, max_length)
        p.price_msat = _int(price_msat, "price_msat", 0, U64)
        p.wallet_uri = _text(wallet, "wallet")
        p.paywall_store = _text(paywall_store, "paywall_store")
        p.credit_block_tokens = _int(credit_block_tokens, "credit_block_tokens", 1, U64)
        p.weights = _weights(weights)
        _check(_native.lib().pln_server_start(_text(model_dir, "model_dir"), byref(p), byref(self._ptr)))

    @staticmethod
    def _set_limits(p: _native.ServerParams, max_sessions: int, max_sessions_per_peer: int,
                    max_streams_per_peer: int, max_unpaid_per_peer: int, open_timeout_s: float,
                    idle_timeout_s: float, cache_mb: int, max_batch: int, max_length: int) -> None:
        p.max_sessions = _int(max_sessions, "max_sessions", 1, I32)
        p.max_sessions_per_peer = _int(max_sessions_per_peer, "max_sessions_per_peer", 0, I32)
        p.max_streams_per_peer = _int(max_streams_per_peer, "max_streams_per_peer", 0, I32)
        p.max_unpaid_per_peer = _int(max_unpaid_per_peer, "max_unpaid_per_peer", 1, U32)
        p.open_timeout_ms = _ms(open_timeout_s, "open_timeout_s")
        p.idle_timeout_ms = _ms(idle_timeout_s, "idle_timeout_s")
        p.cache_mb = _int(cache_mb, "cache_mb", 1, I64)
        p.max_batch = _int(max_batch, "max_batch", 1, I32)
        p.max_length = _int(max_length, "max_length", 0, I32)

    def _info(self) -> _native.ServerInfo:
        info = _native.ServerInfo()
        with self._use() as handle:
            _check(_native.lib().pln_server_get_info(handle, byref(info)))
        return info

    @property
    def endpoint(self) -> str:
        """"host:port" of the gRPC service ("" for a DHT-only node)."""
        return (self._info().endpoint or b"").decode()

    @property
    def peer_id(self) -> str:
        """The server's peer id, 64 hex digits ("" for a DHT-only node)."""
        return (self._info().peer_id or b"").decode()

    @property
    def dht_address(self) -> str:
        """"host:port" of the server's DHT node: what other nodes pass as initial peers."""
        return (self._info().dht_address or b"").decode()

    @property
    def blocks(self) -> Tuple[int, int]:
        """The blocks served, (begin, end)."""
        info = self._info()
        return info.block_begin, info.block_end

    @property
    def weights(self) -> str:
        """The weight format announced: "f32", "bf16", "f16" or "int8" ("" for a DHT-only node)."""
        return (self._info().weights or b"").decode()

    @property
    def weight_bytes_per_block(self) -> int:
        """Bytes of weights held per served block, as announced (0 for a DHT-only node)."""
        return self._info().weight_bytes_per_block

    def stop(self) -> None:
        """Withdraws the announcement and stops serving (idempotent). Raises PetalslnIOError if
        the withdrawal could not be stored (the server is stopped all the same)."""
        with self._use() as handle:
            _check(_native.lib().pln_server_stop(handle))


class Wallet(_Handle):
    """A Lightning wallet opened by URI (e.g. "devnet:FILE?account=NAME")."""

    _free_fn = "pln_wallet_free"

    def __init__(self, uri: str, *, pay_timeout_s: float = 60) -> None:
        """Opens the wallet; a payment taking longer than @pay_timeout_s (unless pay() says
        otherwise) is reported failed or pending. Raises Unsupported for an unknown scheme,
        NotFound for an unknown account, InvalidArgument for a malformed URI."""
        super().__init__()
        self._pay_timeout_ms = _ms(pay_timeout_s, "pay_timeout_s")
        _check(_native.lib().pln_wallet_open(_text(uri, "uri", allow_none=False), byref(self._ptr)))

    @property
    def balance_msat(self) -> int:
        """The spendable balance in millisatoshis."""
        value = c_uint64()
        with self._use() as handle:
            _check(_native.lib().pln_wallet_balance(handle, byref(value)))
        return value.value

    def describe(self) -> str:
        """A description safe to log (no keys or passwords)."""
        out = c_void_p()
        with self._use() as handle:
            _check(_native.lib().pln_wallet_describe(handle, byref(out)))
        return _take(out)

    def create_invoice(self, amount_msat: int = 0, memo: str = "", expiry_s: float = 3600) -> Dict[str, Any]:
        """Creates an invoice (amount 0: any amount) payable for @expiry_s seconds (rounded up
        to whole seconds) and returns {"bolt11", "payment_hash"}."""
        lib = _native.lib()
        p = lib.pln_invoice_default_params()
        p.amount_msat = _int(amount_msat, "amount_msat", 0, U64)
        p.memo = _text(memo, "memo", allow_none=False)
        p.expiry_ms = _ms(expiry_s, "expiry_s")
        out = c_void_p()
        payment_hash = (c_uint8 * 32)()
        with self._use() as handle:
            _check(lib.pln_wallet_create_invoice(handle, byref(p), byref(out), payment_hash))
        return {"bolt11": _take(out), "payment_hash": _hex(payment_hash)}

    def pay(self, bolt11: str, *, max_fee_msat: int = 0, amount_msat: int = 0,
            timeout_s: Optional[float] = None) -> Dict[str, Any]:
        """Pays @bolt11 (@amount_msat only for an invoice for any amount; @timeout_s defaults
        to the wallet's pay_timeout_s) and returns {"payment_hash", "status", "preimage",
        "amount_msat", "fee_msat", "failure_reason"}; a refused payment has status "failed"
        (no exception)."""
        lib = _native.lib()
        p = lib.pln_pay_default_params()
        p.max_fee_msat = _int(max_fee_msat, "max_fee_msat", 0, U64)
        p.amount_msat = _int(amount_msat, "amount_msat", 0, U64)
        p.timeout_ms = self._pay_timeout_ms if timeout_s is None else _ms(timeout_s, "timeout_s")
        r = _native.Payment()
        with self._use() as handle:
            _check(lib.pln_wallet_pay(handle, _text(bolt11, "bolt11", allow_none=False), byref(p), byref(r)))
        return {"payment_hash": _hex(r.payment_hash), "status": _native.PAYMENT_STATUSES.get(r.status, "unknown"),
                "preimage": _hex(r.preimage) if r.has_preimage else None, "amount_msat": r.amount_msat,
                "fee_msat": r.fee_msat, "failure_reason": r.failure_reason.decode("utf-8", errors="replace")}

    def lookup_invoice(self, payment_hash: str) -> Dict[str, Any]:
        """Returns {"payment_hash", "settled", "expired", "amount_paid_msat", "settled_at"} for an
        invoice this wallet created. Raises NotFound for an unknown one."""
        h = _bytes(payment_hash, "payment_hash", 32)
        s = _native.InvoiceStatus()
        with self._use() as handle:
            _check(_native.lib().pln_wallet_lookup_invoice(handle, h, byref(s)))
        return {"payment_hash": _hex(s.payment_hash), "settled": s.settled, "expired": s.expired,
                "amount_paid_msat": s.amount_paid_msat, "settled_at": s.settled_at}


def create_devnet_account(path: str, name: str, fund_msat: int = 0) -> Dict[str, Any]:
    """The devnet faucet: creates account @name holding @fund_msat of simulated money in the
    devnet file @path (created if absent); returns {"name", "node_id", "balance_msat", "uri"}."""
    out = c_void_p()
    node_id = (c_uint8 * 33)()
    _check(_native.lib().pln_devnet_create_account(_text(path, "path", allow_none=False),
                                                   _text(name, "name", allow_none=False),
                                                   _int(fund_msat, "fund_msat", 0, U64), node_id, byref(out)))
    return {"name": name, "node_id": _hex(node_id), "balance_msat": fund_msat, "uri": _take(out)}


def decode_invoice(bolt11: str) -> Dict[str, Any]:
    """Decodes and verifies a BOLT11 invoice (every reader rule, signature included); returns
    {"network", "amount_msat" (None: any amount), "timestamp", "expiry" (seconds), "expires_at",
    "payment_hash", "payment_secret", "description", "description_hash", "payee",
    "min_final_cltv_expiry", "features", "route_hints" (a count), "signature_valid"}. Raises
    InvalidFormat naming the broken rule."""
    i = _native.Bolt11Invoice()
    _check(_native.lib().pln_bolt11_decode(_text(bolt11, "bolt11", allow_none=False), byref(i)))
    description = i.description[:i.description_len].decode("utf-8", errors="replace")
    return {"network": i.network.decode(), "amount_msat": i.amount_msat if i.has_amount else None,
            "timestamp": i.timestamp, "expiry": i.expiry_ms // 1000, "expires_at": i.expires_at,
            "payment_hash": _hex(i.payment_hash), "payment_secret": _hex(i.payment_secret),
            "description": description if i.has_description else None,
            "description_hash": _hex(i.description_hash) if i.has_description_hash else None,
            "payee": _hex(i.payee), "min_final_cltv_expiry": i.min_final_cltv_expiry,
            "features": list(i.features[:min(i.n_features, _native.BOLT11_MAX_FEATURES)]),
            "route_hints": i.n_route_hints, "signature_valid": True}


def _key(root_key: bytes) -> Tuple[Any, int]:
    if not isinstance(root_key, (bytes, bytearray)):
        raise TypeError(f"root_key must be bytes, not {type(root_key).__name__}")
    buf = (c_uint8 * max(len(root_key), 1)).from_buffer_copy(bytes(root_key) or b"\0")
    return buf, len(root_key)


def _blocks(blocks: Tuple[int, int]) -> Tuple[int, int]:
    if len(blocks) != 2:
        raise InvalidArgument("blocks must be a pair (begin, end)")
    return _int(blocks[0], "blocks[0]", 0, U32), _int(blocks[1], "blocks[1]", 0, U32)


def _request(model: Optional[str], peer: Optional[str], blocks: Tuple[int, int], now: int,
             service: str) -> _native.L402Request:
    r = _native.lib().pln_l402_default_request()
    r.service = _text(service, "service", allow_none=False)
    r.model = _text(model, "model")
    r.peer = _text(peer, "peer")
    r.block_begin, r.block_end = _blocks(blocks)
    r.now = _int(now, "now", 0, U64)
    return r


def _grant(request: _native.L402Request, g: _native.L402Grant) -> Dict[str, Any]:
    """The effective terms: the request's service, model and peer, and what the token grants."""
    return {"service": request.service.decode(), "model": (request.model or b"").decode(),
            "peer": (request.peer or b"").decode(), "blocks": [g.block_begin, g.block_end], "credit": g.credit,
            "expires": g.expires}


def mint_macaroon(root_key: bytes, payment_hash: str, *, model: str, peer: str, blocks: Tuple[int, int],
                  credit: int, expires: int, location: Optional[str] = None, service: str = "petalsln") -> str:
    """Mints an L402 macaroon for the invoice with @payment_hash (64 hex digits) with the six
    petalsln caveats, and returns it in base64. It is a bearer credential once paid."""
    lib = _native.lib()
    key, n = _key(root_key)
    t = lib.pln_l402_default_terms()
    t.service = _text(service, "service", allow_none=False)
    t.model = _text(model, "model")
    t.peer = _text(peer, "peer")
    t.block_begin, t.block_end = _blocks(blocks)
    t.credit = _int(credit, "credit", 0, U64)
    t.expires = _int(expires, "expires", 0, U64)
    p = lib.pln_macaroon_default_params()
    p.location = _text(location, "location")
    out = c_void_p()
    _check(lib.pln_macaroon_mint(key, n, _bytes(payment_hash, "payment_hash", 32), byref(t), byref(p), byref(out)))
    return _take(out)


def add_caveat(macaroon: str, predicate: str) -> str:
    """Returns @macaroon with the first-party caveat @predicate appended (narrowing only)."""
    out = c_void_p()
    _check(_native.lib().pln_macaroon_add_caveat(_text(macaroon, "macaroon", allow_none=False),
                                                 _text(predicate, "predicate", allow_none=False), byref(out)))
    return _take(out)


def inspect_macaroon(macaroon: str) -> Dict[str, Any]:
    """Returns {"location", "identifier", "caveats", "payment_hash", "token_id"} without
    verifying anything."""
    out = c_void_p()
    _check(_native.lib().pln_macaroon_inspect(_text(macaroon, "macaroon", allow_none=False), byref(out)))
    return _take_json(out)


def verify_macaroon(macaroon: str, root_key: bytes, *, model: str, peer: str, blocks: Tuple[int, int],
                    now: int = 0, service: str = "petalsln") -> Dict[str, Any]:
    """Verifies @macaroon for a request (model, peer, blocks, at unix time @now, 0 = now) and
    returns the effective terms {"service", "model", "peer", "blocks", "credit", "expires"}.
    Raises Denied with the reason when it does not grant the request."""
    key, n = _key(root_key)
    req = _request(model, peer, blocks, now, service)
    grant = _native.L402Grant()
    _check(_native.lib().pln_macaroon_verify(_text(macaroon, "macaroon", allow_none=False), key, n, byref(req),
                                             byref(grant)))
    return _grant(req, grant)


def parse_l402_challenge(header: str) -> Dict[str, Any]:
    """Parses `L402 macaroon="...", invoice="..."`; returns {"macaroon", "invoice", "payment_hash"}."""
    c = _native.L402Challenge()
    _check(_native.lib().pln_l402_parse_challenge(_text(header, "header", allow_none=False), byref(c)))
    try:
        return {"macaroon": ctypes.string_at(c.macaroon).decode(), "invoice": ctypes.string_at(c.invoice).decode(),
                "payment_hash": _hex(c.payment_hash) if c.has_payment_hash else None}
    finally:
        _native.lib().pln_l402_challenge_clear(byref(c))


def parse_l402_token(header: str) -> Dict[str, Any]:
    """Parses `L402 <macaroon>:<preimage>`; returns {"macaroon", "preimage", "payment_hash",
    "preimage_matches"}."""
    t = _native.L402Token()
    _check(_native.lib().pln_l402_parse_token(_text(header, "header", allow_none=False), byref(t)))
    try:
        return {"macaroon": ctypes.string_at(t.macaroon).decode(), "preimage": _hex(t.preimage),
                "payment_hash": _hex(t.payment_hash) if t.has_payment_hash else None,
                "preimage_matches": t.preimage_matches}
    finally:
        _native.lib().pln_l402_token_clear(byref(t))


def verify_l402_token(header: str, root_key: bytes, *, model: str, peer: str, blocks: Tuple[int, int],
                      now: int = 0, service: str = "petalsln") -> Dict[str, Any]:
    """Verifies an authorization header (preimage, then as verify_macaroon()); returns the
    effective terms. Raises Denied with the reason when it does not grant the request."""
    key, n = _key(root_key)
    req = _request(model, peer, blocks, now, service)
    grant = _native.L402Grant()
    _check(_native.lib().pln_l402_verify_token(_text(header, "header", allow_none=False), key, n, byref(req),
                                               byref(grant)))
    return _grant(req, grant)


def split_payout(amount_msat: int, weights: Union[Dict[str, int], Iterable[Tuple[str, int]]], *,
                 fee_basis_points: int = 0, fee_fixed_msat: int = 0) -> Dict[str, Any]:
    """Splits @amount_msat among payees in proportion to @weights after the fee, exactly: the
    fee plus the amounts add up to @amount_msat. Returns {"fee_msat", "payees": [{"payee",
    "amount_msat"}]}, one entry per distinct payee in order of first appearance."""
    items = list(weights.items()) if isinstance(weights, dict) else list(weights)
    array = (_native.PayoutWeight * max(len(items), 1))()
    keep = []
    for i, (payee, weight) in enumerate(items):
        encoded = _text(payee, "payee", allow_none=False)
        keep.append(encoded)
        array[i].payee = encoded
        array[i].weight = _int(weight, "weight", 0, U64)
    params = _native.lib().pln_payout_default_params()
    params.fee_basis_points = _int(fee_basis_points, "fee_basis_points", 0, U32)
    params.fee_fixed_msat = _int(fee_fixed_msat, "fee_fixed_msat", 0, U64)
    shares = (_native.PayoutShare * max(len(items), 1))()
    n_shares = c_size_t(0)
    fee = c_uint64(0)
    _check(_native.lib().pln_payout_split(_int(amount_msat, "amount_msat", 0, U64), array, len(items), byref(params),
                                          shares, byref(n_shares), byref(fee)))
    return {"fee_msat": fee.value,
            "payees": [{"payee": shares[i].payee.decode(), "amount_msat": shares[i].amount_msat}
                       for i in range(n_shares.value)]}
