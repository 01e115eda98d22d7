"""petalsln: paid, decentralized LLM inference — Python bindings over the C ABI (ctypes).

Everything here calls libpetalsln (see petalsln.h); nothing but the standard library is
needed. The library is loaded from the path in the PETALSLN_LIBRARY environment variable when
it is set, else through the system loader.

    import petalsln
    with petalsln.Model("examples/demo-model") as model:
        print(model.generate("What is 17 + 25?")["text"])
        for piece in model.stream("What is the capital of France?"):
            print(piece.text, end="", flush=True)
"""
from __future__ import annotations

from ._api import (Chat, Model, Server, Token, Wallet, add_caveat, create_devnet_account, decode_invoice,
                   inspect_macaroon, library_version, mint_macaroon, parse_l402_challenge, parse_l402_token,
                   split_payout, verify_l402_token, verify_macaroon)
from ._errors import (Denied, InternalError, InvalidArgument, InvalidFormat, NotFound, OutOfRange, PetalslnError,
                      PetalslnIOError, Unsupported)

__version__ = "0.1.0"

__all__ = [
    "__version__", "library_version", "Model", "Chat", "Server", "Wallet", "Token", "decode_invoice",
    "mint_macaroon", "add_caveat", "inspect_macaroon", "verify_macaroon", "parse_l402_challenge",
    "parse_l402_token", "verify_l402_token", "split_payout", "create_devnet_account", "PetalslnError",
    "InvalidArgument", "InvalidFormat", "Unsupported", "NotFound", "OutOfRange", "PetalslnIOError", "Denied",
    "InternalError",
]
