"""The exceptions a failed C call becomes: one class per status, all PetalslnError."""
from __future__ import annotations


class PetalslnError(Exception):
    """A petalsln call failed. `status` is the C status name, `message` the library's
    explanation (what was wrong, and where)."""

    status = "internal"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvalidArgument(PetalslnError, ValueError):
    """A value outside its domain, or a closed object used."""
    status = "invalid_argument"


class InvalidFormat(PetalslnError, ValueError):
    """Malformed input data: an invoice, a macaroon, a header, a file."""
    status = "invalid_format"


class Unsupported(PetalslnError):
    """Well-formed input that petalsln does not implement (e.g. an unknown wallet scheme)."""
    status = "unsupported"


class NotFound(PetalslnError, LookupError):
    """A file, an account, an invoice, or a route through the swarm that does not exist."""
    status = "not_found"


class OutOfRange(PetalslnError):
    """An id outside the vocabulary, a budget that would be exceeded, a buffer too small."""
    status = "out_of_range"


class PetalslnIOError(PetalslnError, OSError):
    """The system, the network or a peer failed."""
    status = "io"


class Denied(PetalslnError):
    """A verification refused: the macaroon or L402 token does not grant the request."""
    status = "denied"


class InternalError(PetalslnError):
    """A bug in petalsln, or out of memory."""
    status = "internal"


_BY_STATUS = {1: InvalidArgument, 2: InvalidFormat, 3: Unsupported, 4: NotFound, 5: OutOfRange, 6: PetalslnIOError,
              7: Denied, 8: InternalError}


def error_for(status: int, message: str) -> PetalslnError:
    """Returns the exception for a C status and the library's message."""
    return _BY_STATUS.get(status, InternalError)(message or f"petalsln call failed with status {status}")
