"""TOTP (RFC 6238 over RFC 4226 HOTP) as both services and their tests compute it:
HMAC-SHA1, 6 digits, 30-second steps. Standard library only, so importing it never pulls
in a web or crypto layer.

A secret is 20 random bytes; it is shown to people (and put in otpauth URIs) as base32
without padding. `verify` answers the matching *step* rather than a bool so that the caller
can refuse a step it has already accepted (replay protection lives with the caller)."""

import base64
import binascii
import hashlib
import hmac
import secrets
import struct
import time

__all__ = [
    "DIGITS",
    "PERIOD_SECONDS",
    "SECRET_BYTES",
    "current_step",
    "hotp",
    "new_secret",
    "secret_from_base32",
    "secret_to_base32",
    "totp_code",
    "verify",
]

DIGITS = 6
PERIOD_SECONDS = 30
SECRET_BYTES = 20  # RFC 4226 recommends 160 bits, the size of an HMAC-SHA1 key block's digest


def new_secret() -> bytes:
    """A fresh random TOTP secret."""
    return secrets.token_bytes(SECRET_BYTES)


def secret_to_base32(secret: bytes) -> str:
    """The secret as authenticator apps take it: base32, upper case, no padding."""
    return base64.b32encode(secret).decode("ascii").rstrip("=")


def secret_from_base32(secret_b32: str) -> bytes:
    """The bytes of a base32 secret (case, spaces and missing padding tolerated);
    ValueError when it is not base32."""
    cleaned = secret_b32.replace(" ", "").upper()
    try:
        return base64.b32decode(cleaned + "=" * (-len(cleaned) % 8))
    except binascii.Error as exc:
        raise ValueError("secret is not base32") from exc


def hotp(secret: bytes, counter: int, *, digits: int = DIGITS) -> str:
    """RFC 4226 HOTP value of `counter`, zero-padded to `digits`."""
    digest = hmac.new(secret, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10**digits).zfill(digits)


def current_step(at: float | None = None) -> int:
    """The 30-second step that Unix time `at` (default: now) falls in."""
    return int((time.time() if at is None else at) // PERIOD_SECONDS)


def totp_code(secret_b32: str, *, at: float | None = None, step_offset: int = 0) -> str:
    """The code for the step of `at` (default: now) plus `step_offset`, as an app shows it."""
    return hotp(secret_from_base32(secret_b32), current_step(at) + step_offset)


def verify(secret: bytes, code: str, *, now: float | None = None, window: int = 1) -> int | None:
    """The step in now-window..now+window whose code equals `code`, or None.

    Every step in the window is computed and compared in constant time (no early exit), so
    the answer time does not tell which step, if any, matched."""
    if len(code) != DIGITS or not code.isascii() or not code.isdigit():
        return None
    step_now = current_step(now)
    matched: int | None = None
    for step in range(step_now - window, step_now + window + 1):
        if hmac.compare_digest(hotp(secret, step).encode(), code.encode()) and matched is None:
            matched = step
    return matched
