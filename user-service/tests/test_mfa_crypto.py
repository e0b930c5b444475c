"""The MFA key ring (user_service.mfa_crypto) and its settings, without a database."""

import base64
import uuid
from pathlib import Path

import pytest
from pydantic import ValidationError

from user_service.config import Settings
from user_service.main import create_app
from user_service.mfa_crypto import KeyRing, KeyRingError, SealedSecret, UnreadableSecret

KEY = base64.b64encode(bytes(range(32))).decode()


@pytest.mark.parametrize(("spec", "message"), [
    ("nokid", "expected kid:base64"),
    (f":{KEY}", "expected kid:base64"),
    (f"bad kid:{KEY}", "expected kid:base64"),
    ("k1:not base64!", "not base64"),
    (f"k1:{base64.b64encode(bytes(16)).decode()}", "must be 32 bytes"),
    (f"k1:{KEY},k1:{KEY}", "appears twice"),
])
def test_malformed_rings_are_refused_without_echoing_keys(spec: str, message: str) -> None:
    with pytest.raises(KeyRingError, match=message) as caught:
        KeyRing.parse(spec)
    assert KEY not in str(caught.value)


def test_first_key_seals_every_key_opens() -> None:
    old, new = KeyRing.new_key_entry("old"), KeyRing.new_key_entry("new")
    user = uuid.uuid4()
    sealed_old = KeyRing.parse(old).seal(b"secret", user_id=user)
    ring = KeyRing.parse(f" {new} , {old} ")  # spaces around entries are fine
    assert ring.primary_key_id == "new"
    assert ring.open(sealed_old, user_id=user) == b"secret"
    sealed_new = ring.seal(b"secret", user_id=user)
    assert sealed_new.key_id == "new"
    assert len(sealed_new.nonce) == 12
    assert ring.seal(b"secret", user_id=user).nonce != sealed_new.nonce  # a nonce per seal
    with pytest.raises(UnreadableSecret, match="not in the ring"):
        KeyRing.parse(old).open(sealed_new, user_id=user)
    with pytest.raises(UnreadableSecret):
        ring.open(sealed_new, user_id=uuid.uuid4())  # another user's row
    tampered = SealedSecret("new", sealed_new.nonce,
                            bytes([sealed_new.ciphertext[0] ^ 1]) + sealed_new.ciphertext[1:])
    with pytest.raises(UnreadableSecret):
        ring.open(tampered, user_id=user)


def test_an_empty_ring_is_not_configured() -> None:
    ring = KeyRing.parse("")
    assert not ring.configured
    with pytest.raises(UnreadableSecret):
        ring.seal(b"x", user_id=uuid.uuid4())


def test_settings_read_the_ring_from_a_file_and_refuse_bad_ones(tmp_path: Path) -> None:
    entry = KeyRing.new_key_entry("f1")
    ring_file = tmp_path / "mfa_keys"
    ring_file.write_text(entry + "\n")
    settings = Settings(ENVIRONMENT="test", MFA_ENCRYPTION_KEYS_FILE=ring_file)
    assert settings.mfa_key_ring().primary_key_id == "f1"
    with pytest.raises(ValidationError, match="not both"):
        Settings(ENVIRONMENT="test", MFA_ENCRYPTION_KEYS_FILE=ring_file,
                 MFA_ENCRYPTION_KEYS=entry)
    with pytest.raises(ValidationError, match="is not a file"):
        Settings(ENVIRONMENT="test", MFA_ENCRYPTION_KEYS_FILE=tmp_path / "missing")
    with pytest.raises(ValidationError, match="must be 32 bytes"):
        Settings(ENVIRONMENT="test", MFA_ENCRYPTION_KEYS="k:" + base64.b64encode(b"x").decode())


def test_a_production_server_refuses_to_start_without_a_ring() -> None:
    production = {"ENVIRONMENT": "production", "INTERNAL_API_TOKEN": "i" * 32,
                  "REDIS_PASSWORD": "r" * 32}
    settings = Settings(**production)  # what a migrate job needs: no key
    with pytest.raises(SystemExit, match="MFA_ENCRYPTION_KEYS"):
        create_app(settings)
    assert create_app(Settings(**production, MFA_ENCRYPTION_KEYS=KeyRing.new_key_entry("p")))
