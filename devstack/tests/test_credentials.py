"""Secrets the native stack generates once per state dir: the user service's MFA key ring."""

import stat
from pathlib import Path

from devstack.config import StackConfig
from devstack.stack import Stack
from user_service.mfa_crypto import KeyRing


def test_the_stack_passes_one_mfa_key_ring_kept_across_restarts(tmp_path: Path) -> None:
    config = StackConfig(state_dir=tmp_path / "state")
    first = Stack(config, echo=lambda _line: None).services["user-service"].env
    ring = KeyRing.parse(first["MFA_ENCRYPTION_KEYS"])
    assert ring.configured
    assert len(ring.keys) == 1
    assert ring.keys[0][0] == "dev-1"
    # Rows sealed under it must open after a restart: the same ring again, not a new key.
    again = Stack(config, echo=lambda _line: None).services["user-service"].env
    assert again["MFA_ENCRYPTION_KEYS"] == first["MFA_ENCRYPTION_KEYS"]
    stored = tmp_path / "state" / "data" / "secrets" / "mfa_keys"
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    other = Stack(StackConfig(state_dir=tmp_path / "other"), echo=lambda _line: None)
    assert other.services["user-service"].env["MFA_ENCRYPTION_KEYS"] != first["MFA_ENCRYPTION_KEYS"]
