"""Loads libpetalsln (the C ABI) and declares the signature of every function used.

The library is found through the PETALSLN_LIBRARY environment variable (a path) when it is
set, else through the system loader (an installed prefix known to ldconfig, or LD_LIBRARY_PATH).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
from ctypes import (CFUNCTYPE, POINTER, Structure, c_char_p, c_double, c_float, c_int, c_int32, c_int64,
                    c_size_t, c_uint8, c_uint16, c_uint32, c_uint64, c_void_p)

ABI_VERSION = 1


class GenerateParams(Structure):
    _fields_ = [("max_new_tokens", c_int64), ("greedy", c_int32), ("temperature", c_float), ("top_k", c_int32),
                ("top_p", c_float), ("repetition_penalty", c_float), ("seed", c_uint64), ("raw", c_int32),
                ("stop_at_eos", c_int32)]


class ModelParams(Structure):
    _fields_ = [("n_threads", c_int32)]


class ChatParams(Structure):
    _fields_ = [("initial_peers", c_char_p), ("peers", c_char_p), ("model_name", c_char_p), ("wallet_uri", c_char_p),
                ("budget_msat", c_uint64), ("max_price_msat", c_int64), ("step_timeout_s", c_double)]


class ServerParams(Structure):
    _fields_ = [("dht_only", c_int32), ("model_name", c_char_p), ("block_begin", c_int32), ("block_end", c_int32),
                ("num_blocks", c_int32), ("host", c_char_p), ("port", c_int32), ("dht_port", c_int32),
                ("initial_peers", c_char_p), ("identity_file", c_char_p), ("public_name", c_char_p),
                ("lightning_address", c_char_p), ("throughput", c_double), ("max_sessions", c_int32),
                ("cache_mb", c_int64), ("max_batch", c_int32), ("max_length", c_int32), ("price_msat", c_uint64),
                ("wallet_uri", c_char_p), ("paywall_store", c_char_p), ("credit_block_tokens", c_uint64)]


class L402Terms(Structure):
    _fields_ = [("service", c_char_p), ("model", c_char_p), ("peer", c_char_p), ("block_begin", c_uint32),
                ("block_end", c_uint32), ("credit", c_uint64), ("expires", c_int64)]


class MacaroonParams(Structure):
    _fields_ = [("root_key", POINTER(c_uint8)), ("root_key_len", c_size_t), ("payment_hash_hex", c_char_p),
                ("location", c_char_p), ("terms", L402Terms)]


class PayoutFee(Structure):
    _fields_ = [("basis_points", c_uint32), ("fixed_msat", c_uint64)]


class PayoutWeight(Structure):
    _fields_ = [("payee", c_char_p), ("weight", c_uint64)]


class WalletParams(Structure):
    _fields_ = [("pay_timeout_s", c_uint32)]


class InvoiceParams(Structure):
    _fields_ = [("amount_msat", c_uint64), ("memo", c_char_p), ("expiry_s", c_uint64)]


TOKEN_CALLBACK = CFUNCTYPE(c_int, c_int32, c_void_p, c_size_t, c_void_p)

_OUT_STR = POINTER(c_void_p)  # char** whose result is released with pln_string_free
_OUT_CSTR = POINTER(c_char_p)  # const char** owned by a handle

# name: (restype, argtypes)
_SIGNATURES = {
    "pln_version": (c_char_p, []),
    "pln_abi_version": (c_int, []),
    "pln_last_error": (c_char_p, []),
    "pln_status_name": (c_char_p, [c_int]),
    "pln_string_free": (None, [c_void_p]),
    "pln_generate_default_params": (GenerateParams, []),
    "pln_model_default_params": (ModelParams, []),
    "pln_model_open": (c_int, [c_char_p, POINTER(ModelParams), POINTER(c_void_p)]),
    "pln_model_free": (None, [c_void_p]),
    "pln_model_tokenize": (c_int, [c_void_p, c_char_p, c_int32, POINTER(c_int32), c_size_t, POINTER(c_size_t)]),
    "pln_model_generate": (c_int, [c_void_p, c_char_p, POINTER(GenerateParams), TOKEN_CALLBACK, c_void_p, _OUT_STR]),
    "pln_model_generate_tokens": (c_int, [c_void_p, POINTER(c_int32), c_size_t, POINTER(GenerateParams), TOKEN_CALLBACK,
                                          c_void_p, _OUT_STR]),
    "pln_chat_default_params": (ChatParams, []),
    "pln_chat_open": (c_int, [c_char_p, POINTER(ChatParams), POINTER(c_void_p)]),
    "pln_chat_free": (None, [c_void_p]),
    "pln_chat_generate": (c_int, [c_void_p, c_char_p, POINTER(GenerateParams), TOKEN_CALLBACK, c_void_p, _OUT_STR]),
    "pln_chat_receipt": (c_int, [c_void_p, _OUT_STR]),
    "pln_chat_spent_msat": (c_int, [c_void_p, POINTER(c_uint64)]),
    "pln_server_default_params": (ServerParams, []),
    "pln_server_start": (c_int, [c_char_p, POINTER(ServerParams), POINTER(c_void_p)]),
    "pln_server_endpoint": (c_int, [c_void_p, _OUT_CSTR]),
    "pln_server_peer_id": (c_int, [c_void_p, _OUT_CSTR]),
    "pln_server_dht_address": (c_int, [c_void_p, _OUT_CSTR]),
    "pln_server_blocks": (c_int, [c_void_p, POINTER(c_int32), POINTER(c_int32)]),
    "pln_server_stop": (c_int, [c_void_p]),
    "pln_server_free": (None, [c_void_p]),
    "pln_bolt11_decode": (c_int, [c_char_p, _OUT_STR]),
    "pln_macaroon_default_params": (MacaroonParams, []),
    "pln_l402_default_terms": (L402Terms, []),
    "pln_macaroon_mint": (c_int, [POINTER(MacaroonParams), _OUT_STR]),
    "pln_macaroon_add_caveat": (c_int, [c_char_p, c_char_p, _OUT_STR]),
    "pln_macaroon_inspect": (c_int, [c_char_p, _OUT_STR]),
    "pln_macaroon_verify": (c_int, [c_char_p, POINTER(c_uint8), c_size_t, POINTER(L402Terms), _OUT_STR]),
    "pln_l402_parse_challenge": (c_int, [c_char_p, _OUT_STR]),
    "pln_l402_parse_token": (c_int, [c_char_p, _OUT_STR]),
    "pln_l402_verify_token": (c_int, [c_char_p, POINTER(c_uint8), c_size_t, POINTER(L402Terms), _OUT_STR]),
    "pln_payout_split": (c_int, [POINTER(PayoutFee), c_uint64, POINTER(PayoutWeight), c_size_t, _OUT_STR]),
    "pln_wallet_default_params": (WalletParams, []),
    "pln_wallet_open": (c_int, [c_char_p, POINTER(WalletParams), POINTER(c_void_p)]),
    "pln_wallet_free": (None, [c_void_p]),
    "pln_wallet_balance": (c_int, [c_void_p, POINTER(c_uint64)]),
    "pln_wallet_describe": (c_int, [c_void_p, _OUT_STR]),
    "pln_invoice_default_params": (InvoiceParams, []),
    "pln_wallet_create_invoice": (c_int, [c_void_p, POINTER(InvoiceParams), _OUT_STR]),
    "pln_wallet_pay": (c_int, [c_void_p, c_char_p, c_uint64, c_uint64, _OUT_STR]),
    "pln_wallet_lookup_invoice": (c_int, [c_void_p, c_char_p, _OUT_STR]),
    "pln_devnet_create_account": (c_int, [c_char_p, c_char_p, c_uint64, _OUT_STR]),
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
