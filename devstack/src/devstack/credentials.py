"""Secrets generated once per state dir and reused across restarts."""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Callable
from pathlib import Path


def _token() -> str:
    return secrets.token_urlsafe(32)  # URL-safe: it goes into DATABASE_URL as is


def mfa_key_ring_entry(kid: str = "dev-1") -> str:
    """A user-service MFA_ENCRYPTION_KEYS ring of one fresh key: `kid:base64(32 bytes)`."""
    return f"{kid}:{base64.b64encode(secrets.token_bytes(32)).decode()}"


def read_or_create_secret(path: Path, make: Callable[[], str] = _token) -> str:
    """Return the secret in `path`, creating it with `make` (mode 600, dir 700) on first use."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    value = make()
    # O_EXCL: if two starters race, one wins and both read the winner's value.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as out:
        out.write(value + "\n")
    return value
