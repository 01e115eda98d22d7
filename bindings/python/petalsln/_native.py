"""Loads libpetalsln (the C ABI) and declares the signature of every function used.

The library is found through the PETALSLN_LIBRARY environment variable (a path) when it is
set, else through the system loader (an installed prefix known to ldconfig, or LD_LIBRARY_PATH).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
from ctypes import (CFUNCTYPE, POINTER, Structure, c_bool, c_char, c_char_p, c_double, c_float, c_int, c_int32,
                    c_size_t, c_uint8, c_uint16, c_uint32, c_uint64, c_void_p)

ABI_VERSION = 3

# The structs of petalsln.h, field for field (the C compiler's layout is ctypes' layout).


class GenerateParams(Structure):
    _fields_ = [("max_new_tokens", c_uint32), ("greedy", c_bool), ("temperature", c_float), ("top_k", c_uint32),
                ("top_p", c_float), ("repetition_penalty", c_float), ("seed", c_uint64), ("raw", c_bool),
                ("stop_at_eos", c_bool)]


class Generation(Structure):
    _fields_ = [("stop_reason", c_int), ("prompt_ids", POINTER(c_int32)), ("n_prompt_ids", c_size_t),
                ("new_ids", POINTER(c_int32)), ("n_new_ids", c_size_t), ("text", c_void_p)]


class ModelParams(Structure):
    _fields_ = [("n_threads", c_uint32), ("weights", c_char_p)]


class ChatParams(Structure):
    _fields_ = [("initial_peers", c_char_p), ("peers", c_char_p), ("model_name", c_char_p), ("wallet_uri", c_char_p),
                ("budget_msat", c_uint64), ("max_price_msat", c_uint64), ("server_timeout_ms", c_uint64),
                ("dht_connect_timeout_ms", c_uint64), ("weights", c_char_p)]


class ServerParams(Structure):
    _fields_ = [("dht_only", c_bool), ("model_name", c_char_p), ("block_begin", c_uint32), ("block_end", c_uint32),
                ("num_blocks", c_uint32), ("host", c_char_p), ("port", c_uint16), ("dht_port", c_uint16),
                ("initial_peers", c_char_p), ("identity_file", c_char_p), ("public_name", c_char_p),
                ("lightning_address", c_char_p), ("throughput", c_double), ("max_sessions", c_uint32),
                ("max_sessions_per_peer", c_uint32), ("max_streams_per_peer", c_uint32),
                ("max_unpaid_per_peer", c_uint32), ("open_timeout_ms", c_uint64), ("idle_timeout_ms", c_uint64),
                ("cache_mb", c_uint64), ("max_batch", c_uint32), ("max_length", c_uint32), ("price_msat", c_uint64),
                ("wallet_uri", c_char_p), ("paywall_store", c_char_p), ("credit_block_tokens", c_uint64),
                ("weights", c_char_p)]


class ServerInfo(Structure):
    _fields_ = [("endpoint", c_char_p), ("peer_id", c_char_p), ("dht_address", c_char_p), ("block_begin", c_uint32),
                ("block_end", c_uint32), ("weights", c_char_p), ("weight_bytes_per_block", c_uint64)]


BOLT11_MAX_FEATURES = 64


class Bolt11Invoice(Structure):
    _fields_ = [("network", c_char_p), ("has_amount", c_bool), ("amount_msat", c_uint64), ("timestamp", c_uint64),
                ("expiry_ms", c_uint64), ("expires_at", c_uint64), ("payment_hash", c_uint8 * 32),
                ("payment_secret", c_uint8 * 32), ("has_description", c_bool), ("description", c_char * 640),
                ("description_len", c_size_t), ("has_description_hash", c_bool), ("description_hash", c_uint8 * 32),
                ("payee", c_uint8 * 33), ("min_final_cltv_expiry", c_uint64), ("n_route_hints", c_size_t),
                ("n_features", c_size_t), ("features", c_uint16 * BOLT11_MAX_FEATURES)]


class L402Terms(Structure):
    _fields_ = [("service", c_char_p), ("model", c_char_p), ("peer", c_char_p), ("block_begin", c_uint32),
                ("block_end", c_uint32), ("credit", c_uint64), ("expires", c_uint64)]


class L402Request(Structure):
    _fields_ = [("service", c_char_p), ("model", c_char_p), ("peer", c_char_p), ("block_begin", c_uint32),
                ("block_end", c_uint32), ("now", c_uint64)]


class L402Grant(Structure):
    _fields_ = [("block_begin", c_uint32), ("block_end", c_uint32), ("credit", c_uint64), ("expires", c_uint64)]


class MacaroonParams(Structure):
    _fields_ = [("location", c_char_p)]


class L402Challenge(Structure):
    _fields_ = [("macaroon", c_void_p), ("invoice", c_void_p), ("has_payment_hash", c_bool),
                ("payment_hash", c_uint8 * 32)]


class L402Token(Structure):
    _fields_ = [("macaroon", c_void_p), ("preimage", c_uint8 * 32), ("has_payment_hash", c_bool),
                ("payment_hash", c_uint8 * 32), ("preimage_matches", c_bool)]


class PayoutParams(Structure):
    _fields_ = [("fee_basis_points", c_uint32), ("fee_fixed_msat", c_uint64)]


class PayoutWeight(Structure):
    _fields_ = [("payee", c_char_p), ("weight", c_uint64)]


class PayoutShare(Structure):
    _fields_ = [("payee", c_char_p), ("amount_msat", c_uint64)]


class InvoiceParams(Structure):
    _fields_ = [("amount_msat", c_uint64), ("memo", c_char_p), ("expiry_ms", c_uint64)]


class PayParams(Structure):
    _fields_ = [("max_fee_msat", c_uint64), ("amount_msat", c_uint64), ("timeout_ms", c_uint64)]


class Payment(Structure):
    _fields_ = [("status", c_int), ("payment_hash", c_uint8 * 32), ("has_preimage", c_bool),
                ("preimage", c_uint8 * 32), ("amount_msat", c_uint64), ("fee_msat", c_uint64),
                ("failure_reason", c_char * 256)]


class InvoiceStatus(Structure):
    _fields_ = [("payment_hash", c_uint8 * 32), ("settled", c_bool), ("expired", c_bool),
                ("amount_paid_msat", c_uint64), ("settled_at", c_uint64)]


# pln_stop_reason and pln_payment_status, by value.
STOP_REASONS = {0: "stop_token", 1: "length", 2: "cancelled"}
PAYMENT_STATUSES = {0: "pending", 1: "succeeded", 2: "failed"}

TOKEN_CALLBACK = CFUNCTYPE(c_bool, c_int32, c_void_p, c_size_t, c_void_p)

_OUT_STR = POINTER(c_void_p)  # char** whose result is released with pln_string_free
_BYTES = POINTER(c_uint8)     # uint8_t* of a fixed size (32 or 33 bytes)

# name: (restype, argtypes)
_SIGNATURES = {
    "pln_version": (c_char_p, []),
    "pln_abi_version": (c_uint32, []),
    "pln_last_error": (c_char_p, []),
    "pln_status_name": (c_char_p, [c_int]),
    "pln_string_free": (None, [c_void_p]),
    "pln_generate_default_params": (GenerateParams, []),
    "pln_generation_clear": (None, [POINTER(Generation)]),
    "pln_model_default_params": (ModelParams, []),
    "pln_model_open": (c_int, [c_char_p, POINTER(ModelParams), POINTER(c_void_p)]),
    "pln_model_free": (None, [c_void_p]),
    "pln_model_tokenize": (c_int, [c_void_p, c_char_p, c_bool, POINTER(c_int32), c_size_t, POINTER(c_size_t)]),
    "pln_model_generate": (c_int, [c_void_p, c_char_p, POINTER(GenerateParams), TOKEN_CALLBACK, c_void_p,
                                   POINTER(Generation)]),
    "pln_model_generate_tokens": (c_int, [c_void_p, POINTER(c_int32), c_size_t, POINTER(GenerateParams), TOKEN_CALLBACK,
                                          c_void_p, POINTER(Generation)]),
    "pln_chat_default_params": (ChatParams, []),
    "pln_chat_open": (c_int, [c_char_p, POINTER(ChatParams), POINTER(c_void_p)]),
    "pln_chat_free": (None, [c_void_p]),
    "pln_chat_generate": (c_int, [c_void_p, c_char_p, POINTER(GenerateParams), TOKEN_CALLBACK, c_void_p,
                                  POINTER(Generation)]),
    "pln_chat_receipt": (c_int, [c_void_p, _OUT_STR]),
    "pln_chat_spent_msat": (c_int, [c_void_p, POINTER(c_uint64)]),
    "pln_server_default_params": (ServerParams, []),
    "pln_server_start": (c_int, [c_char_p, POINTER(ServerParams), POINTER(c_void_p)]),
    "pln_server_get_info": (c_int, [c_void_p, POINTER(ServerInfo)]),
    "pln_server_stop": (c_int, [c_void_p]),
    "pln_server_free": (None, [c_void_p]),
    "pln_bolt11_decode": (c_int, [c_char_p, POINTER(Bolt11Invoice)]),
    "pln_l402_default_terms": (L402Terms, []),
    "pln_l402_default_request": (L402Request, []),
    "pln_macaroon_default_params": (MacaroonParams, []),
    "pln_macaroon_mint": (c_int, [_BYTES, c_size_t, _BYTES, POINTER(L402Terms), POINTER(MacaroonParams), _OUT_STR]),
    "pln_macaroon_add_caveat": (c_int, [c_char_p, c_char_p, _OUT_STR]),
    "pln_macaroon_inspect": (c_int, [c_char_p, _OUT_STR]),
    "pln_macaroon_verify": (c_int, [c_char_p, _BYTES, c_size_t, POINTER(L402Request), POINTER(L402Grant)]),
    "pln_l402_challenge_clear": (None, [POINTER(L402Challenge)]),
    "pln_l402_parse_challenge": (c_int, [c_char_p, POINTER(L402Challenge)]),
    "pln_l402_token_clear": (None, [POINTER(L402Token)]),
    "pln_l402_parse_token": (c_int, [c_char_p, POINTER(L402Token)]),
    "pln_l402_verify_token": (c_int, [c_char_p, _BYTES, c_size_t, POINTER(L402Request), POINTER(L402Grant)]),
    "pln_payout_default_params": (PayoutParams, []),
    "pln_payout_split": (c_int, [c_uint64, POINTER(PayoutWeight), c_size_t, POINTER(PayoutParams),
                                 POINTER(PayoutShare), POINTER(c_size_t), POINTER(c_uint64)]),
    "pln_wallet_open": (c_int, [c_char_p, POINTER(c_void_p)]),
    "pln_wallet_free": (None, [c_void_p]),
    "pln_wallet_balance": (c_int, [c_void_p, POINTER(c_uint64)]),
    "pln_wallet_describe": (c_int, [c_void_p, _OUT_STR]),
    "pln_invoice_default_params": (InvoiceParams, []),
    "pln_wallet_create_invoice": (c_int, [c_void_p, POINTER(InvoiceParams), _OUT_STR, _BYTES]),
    "pln_pay_default_params": (PayParams, []),
    "pln_wallet_pay": (c_int, [c_void_p, c_char_p, POINTER(PayParams), POINTER(Payment)]),
    "pln_wallet_lookup_invoice": (c_int, [c_void_p, _BYTES, POINTER(InvoiceStatus)]),
    "pln_devnet_create_account": (c_int, [c_char_p, c_char_p, c_uint64, _BYTES, _OUT_STR]),
}

_lock = threading.Lock()
_lib = None


def _candidates():
    path = os.environ.get("PETALSLN_LIBRARY")
    if path:
        return [path]
    names = [f"libpetalsln.so.{ABI_VERSION}", "libpetalsln.so"]
    found = ctypes.util.find_library("petalsln")
    if found:
        names.append(found)
    return names


def lib():
    """Returns the loaded C library, loading it on first use. Raises OSError naming every
    place it looked when it cannot be loaded, or when its ABI version is not this package's."""
    global _lib
    with _lock:
        if _lib is not None:
            return _lib
        errors = []
        for name in _candidates():
            try:
                handle = ctypes.CDLL(name)
                break
            except OSError as e:
                errors.append(f"{name}: {e}")
        else:
            raise OSError("cannot load the petalsln C library (set PETALSLN_LIBRARY to its path, or install it where "
                          "the system loader finds it): " + "; ".join(errors))
        for fn, (restype, argtypes) in _SIGNATURES.items():
            f = getattr(handle, fn)
            f.restype = restype
            f.argtypes = argtypes
        abi = handle.pln_abi_version()
        if abi != ABI_VERSION:
            raise OSError(f"the petalsln C library has ABI version {abi}; this package needs {ABI_VERSION}")
        _lib = handle
        return _lib
