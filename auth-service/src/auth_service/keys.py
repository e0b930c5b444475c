"""Signing keys: PEM files in a directory plus `keys.json` naming the current and previous kid.

Keys are parsed once into jose key objects when the directory changes (never per signature).
A rotation stages the new key: it is published in the JWKS at once but signs only from
`activated_at`, so every verifier (and every other auth-service process) can learn it first."""

import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jose import jwk

from shared import get_logger

METADATA_FILE = "keys.json"
_log = get_logger("keys")


class KeyConfigError(RuntimeError):
    """The key directory is missing, incomplete or inconsistent."""


class RotationTooSoon(KeyConfigError):
    """Rotating now would drop a key whose tokens may still be valid."""


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    alg: str
    private: Any  # jose key objects, parsed once
    public: Any
    public_jwk: dict[str, Any]


@dataclass(frozen=True, slots=True)
class KeyRing:
    """The keys one process uses: `current` signs from `activated_at`, before that `previous`."""

    current: SigningKey
    previous: SigningKey | None
    activated_at: float

    def signer(self, now: float | None = None) -> SigningKey:
        if self.previous is not None and (now or time.time()) < self.activated_at:
            return self.previous
        return self.current

    def verification_key(self, kid: str) -> tuple[Any, str] | None:
        for key in (self.current, self.previous):
            if key is not None and key.kid == kid:
                return key.public, key.alg
        return None

    def jwks(self) -> dict[str, Any]:
        return {"keys": [k.public_jwk for k in (self.current, self.previous) if k is not None]}


def _alg_for(private_key: Any) -> str:
    if isinstance(private_key, rsa.RSAPrivateKey):
        return "RS256"
    if isinstance(private_key, ec.EllipticCurvePrivateKey) and isinstance(
        private_key.curve, ec.SECP256R1
    ):
        return "ES256"
    raise KeyConfigError("unsupported key type (RSA or EC P-256 only)")


def _load_key(directory: Path, kid: str) -> SigningKey:
    pem = (directory / f"{kid}.pem").read_bytes()
    alg = _alg_for(serialization.load_pem_private_key(pem, password=None))
    private = jwk.construct(pem, alg)
    public = private.public_key()
    public_jwk = {**public.to_dict(), "kid": kid, "alg": alg, "use": "sig"}
    return SigningKey(kid, alg, private, public, public_jwk)


def read_metadata(directory: Path) -> dict[str, Any]:
    try:
        meta = json.loads((directory / METADATA_FILE).read_text())
    except FileNotFoundError:
        raise KeyConfigError(f"no {METADATA_FILE} in {directory}") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("current"), str):
        raise KeyConfigError(f"{directory / METADATA_FILE} does not name a current key")
    return meta


def load_keyring(directory: Path) -> KeyRing:
    meta = read_metadata(directory)
    previous = meta.get("previous")
    try:
        return KeyRing(
            current=_load_key(directory, meta["current"]),
            previous=_load_key(directory, previous) if isinstance(previous, str) else None,
            activated_at=float(meta.get("activated_at", 0)),
        )
    except (OSError, ValueError) as exc:
        raise KeyConfigError(f"cannot load keys from {directory}: {exc}") from exc


def _generate(directory: Path, alg: str) -> str:
    private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    if alg == "ES256":
        private_key = ec.generate_private_key(ec.SECP256R1())
    else:
        private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    kid = f"{time.strftime('%Y%m%d', time.gmtime())}-{secrets.token_hex(4)}"
    fd = os.open(directory / f"{kid}.pem", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    return kid


def _write_metadata(directory: Path, meta: dict[str, Any], *, exclusive: bool = False) -> bool:
    tmp = directory / f".{METADATA_FILE}.{secrets.token_hex(4)}"
    tmp.write_text(json.dumps(meta, indent=2) + "\n")
    try:
        if exclusive:  # first start of several processes: the first link wins
            try:
                os.link(tmp, directory / METADATA_FILE)
            except FileExistsError:
                return False
            return True
        os.replace(tmp, directory / METADATA_FILE)
        return True
    finally:
        tmp.unlink(missing_ok=True)


def ensure_keys(directory: Path, alg: str) -> None:
    """Create a first key when the directory has none (local and test only)."""
    if (directory / METADATA_FILE).exists():
        return
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    kid = _generate(directory, alg)
    meta = {"current": kid, "previous": None, "activated_at": 0}
    if not _write_metadata(directory, meta, exclusive=True):
        (directory / f"{kid}.pem").unlink(missing_ok=True)
    else:
        _log.info("jwt_key_generated", kid=kid, alg=alg, directory=str(directory))


def rotate_keys(
    directory: Path, alg: str, *, activate_after: float, min_interval: float,
    force: bool = False, now: float | None = None,
) -> str:
    """Make a new key current (signing after `activate_after` s), keep the old one as previous,
    delete every other key file. Refuses while the key about to be dropped may still have
    valid tokens (previous signed until `activated_at`; they live `min_interval` longer)."""
    now = time.time() if now is None else now
    meta = read_metadata(directory)
    since = now - float(meta.get("activated_at", 0))
    if meta.get("previous") and since < min_interval and not force:
        raise RotationTooSoon(
            f"the previous key may still have valid tokens for {min_interval - since:.0f} s; "
            "wait, or pass --force to invalidate them"
        )
    kid = _generate(directory, alg)
    _write_metadata(directory, {
        "current": kid, "previous": meta["current"], "activated_at": now + activate_after,
    })
    keep = {f"{kid}.pem", f"{meta['current']}.pem"}
    for path in directory.glob("*.pem"):
        if path.name not in keep:
            path.unlink()
    return kid


class KeyStore:
    """The process's key ring, reloaded when `keys.json` changes; a shared.KeySet."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._stamp = self._metadata_stamp()
        self.ring = load_keyring(directory)
        self._last_check = time.monotonic()

    def _metadata_stamp(self) -> tuple[int, int]:
        stat = (self.directory / METADATA_FILE).stat()
        return stat.st_mtime_ns, stat.st_size

    def reload_if_changed(self) -> bool:
        self._last_check = time.monotonic()
        try:
            stamp = self._metadata_stamp()
            if stamp == self._stamp:
                return False
            ring = load_keyring(self.directory)
        except (OSError, KeyConfigError) as exc:  # keep signing with what we have
            _log.error("jwt_keys_reload_failed", error=str(exc))
            return False
        self.ring, self._stamp = ring, stamp
        _log.info("jwt_keys_reloaded", current=ring.current.kid,
                  previous=ring.previous.kid if ring.previous else None)
        return True

    def get(self, kid: str) -> tuple[Any, str] | None:
        return self.ring.verification_key(kid)

    async def refresh_for_unknown_kid(self) -> None:
        # Another process may have rotated just now; the stat is cheap but still rate-limited.
        if time.monotonic() - self._last_check >= 1.0:
            self.reload_if_changed()
