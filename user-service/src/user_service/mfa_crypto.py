"""TOTP secrets at rest: AES-256-GCM under a key ring (setting MFA_ENCRYPTION_KEYS).

A ring is `kid:base64(32 bytes)` entries, comma-separated; the first entry encrypts, every
entry decrypts, so a key is rotated by putting the new one first, running
`user-service mfa-reencrypt`, and then dropping the old one. Each secret gets a fresh
12-byte random nonce and is stored with the id of the key that sealed it. The user's id is
the associated data: a ciphertext copied into another user's row fails to decrypt, so
someone who can write the table (but has no key) cannot move a known secret onto a victim."""

import base64
import binascii
import re
import secrets
import uuid
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = ["KeyRing", "KeyRingError", "SealedSecret", "UnreadableSecret"]

KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12  # the GCM nonce size NIST SP 800-38D recommends
KEY_ID_MAX_LENGTH = 32
_KEY_ID = re.compile(r"[A-Za-z0-9_.-]{1,32}")


class KeyRingError(ValueError):
    """MFA_ENCRYPTION_KEYS is malformed (the message never contains key material)."""


class UnreadableSecret(Exception):
    """A stored secret does not decrypt: its key is not in the ring, or the row was tampered
    with or copied from another user."""


@dataclass(frozen=True, slots=True)
class SealedSecret:
    """What a row stores: which key sealed it, the nonce, the ciphertext with its GCM tag."""

    key_id: str
    nonce: bytes
    ciphertext: bytes


@dataclass(frozen=True, slots=True)
class KeyRing:
    """The MFA encryption keys, the encrypting one first."""

    keys: tuple[tuple[str, bytes], ...]

    @classmethod
    def parse(cls, spec: str) -> "KeyRing":
        """A ring from `kid:base64,...`; KeyRingError names the bad entry by position only.
        An empty spec gives an empty ring (MFA then answers 503, see `configured`)."""
        keys: list[tuple[str, bytes]] = []
        for position, entry in enumerate((e.strip() for e in spec.split(",") if e.strip()), 1):
            kid, sep, encoded = entry.partition(":")
            if not sep or not _KEY_ID.fullmatch(kid):
                raise KeyRingError(f"MFA key {position}: expected kid:base64 with a kid of "
                                   f"1-{KEY_ID_MAX_LENGTH} letters, digits, '_', '.', '-'")
            try:
                key = base64.b64decode(encoded.strip().replace("-", "+").replace("_", "/"),
                                       validate=True)
            except binascii.Error:
                raise KeyRingError(f"MFA key {position} ({kid}): not base64") from None
            if len(key) != KEY_BYTES:
                raise KeyRingError(f"MFA key {position} ({kid}): must be {KEY_BYTES} bytes")
            if any(kid == known for known, _ in keys):
                raise KeyRingError(f"MFA key {position}: kid {kid} appears twice")
            keys.append((kid, key))
        return cls(tuple(keys))

    @staticmethod
    def new_key_entry(kid: str) -> str:
        """A `kid:base64` entry with a fresh random key (for the dev stack and tests)."""
        return f"{kid}:{base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()}"

    @property
    def configured(self) -> bool:
        return bool(self.keys)

    @property
    def primary_key_id(self) -> str:
        if not self.keys:
            raise UnreadableSecret("no MFA encryption key is configured")
        return self.keys[0][0]

    def seal(self, plaintext: bytes, *, user_id: uuid.UUID) -> SealedSecret:
        """Encrypt under the first key, bound to `user_id`."""
        kid = self.primary_key_id
        nonce = secrets.token_bytes(NONCE_BYTES)
        ciphertext = AESGCM(self.keys[0][1]).encrypt(nonce, plaintext, user_id.bytes)
        return SealedSecret(kid, nonce, ciphertext)

    def open(self, sealed: SealedSecret, *, user_id: uuid.UUID) -> bytes:
        """Decrypt with the key the secret names; UnreadableSecret when it cannot."""
        key = dict(self.keys).get(sealed.key_id)
        if key is None:
            raise UnreadableSecret(f"MFA key {sealed.key_id} is not in the ring")
        try:
            return AESGCM(key).decrypt(sealed.nonce, sealed.ciphertext, user_id.bytes)
        except (InvalidTag, ValueError):
            raise UnreadableSecret("the stored secret does not decrypt for this user") from None
