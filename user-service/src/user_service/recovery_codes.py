"""Recovery codes: 10 single-use `xxxxx-xxxxx` codes (lowercase base32 alphabet, 50 random
bits each) shown once; only their hashes are stored.

The hash is SHA-256 over the user's id and the normalised code: a fast hash is enough for
a random 50-bit code, and the id makes a table dump useless for a precomputed or batched
guess across accounts. Typing is forgiving: case, spaces and dashes do not matter."""

import hashlib
import secrets
import uuid

__all__ = ["CODE_COUNT", "hash_typed", "new_codes"]

CODE_COUNT = 10
_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"  # RFC 4648 base32, lower case
_GROUP = 5
_DOMAIN = b"user-service recovery code\x00"  # these hashes are never comparable to others


def new_codes(user_id: uuid.UUID, count: int = CODE_COUNT) -> tuple[list[str], list[bytes]]:
    """`count` fresh codes of `user_id`: as the user sees them, and their stored hashes."""
    shown: list[str] = []
    hashes: list[bytes] = []
    for _ in range(count):
        chars = "".join(secrets.choice(_ALPHABET) for _ in range(2 * _GROUP))
        shown.append(f"{chars[:_GROUP]}-{chars[_GROUP:]}")
        hashes.append(_hash(user_id, chars))
    return shown, hashes


def hash_typed(user_id: uuid.UUID, typed: str) -> bytes | None:
    """The stored hash a typed code would have, or None when it cannot be a code at all."""
    cleaned = typed.replace("-", "").replace(" ", "").lower()
    if len(cleaned) != 2 * _GROUP or not all(c in _ALPHABET for c in cleaned):
        return None
    return _hash(user_id, cleaned)


def _hash(user_id: uuid.UUID, canonical: str) -> bytes:
    return hashlib.sha256(_DOMAIN + user_id.bytes + canonical.encode("ascii")).digest()
