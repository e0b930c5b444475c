"""Key files, rotation (staged activation, pruning) and the CLI."""

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
from jose import jwt

from auth_service import cli
from auth_service.keys import (
    KeyStore,
    RotationTooSoon,
    ensure_keys,
    load_keyring,
    read_metadata,
    rotate_keys,
)
from shared import JwtVerifier, StaticKeySet


def _verifier(jwks: dict[str, Any]) -> JwtVerifier:
    algorithms = frozenset({"RS256", "ES256"})
    return JwtVerifier(StaticKeySet(jwks, algorithms), issuer="authstack",
                       audience="authstack-api", algorithms=algorithms)


def test_generated_once_and_private(tmp_path: Path) -> None:
    ensure_keys(tmp_path, "RS256")
    first = read_metadata(tmp_path)
    ensure_keys(tmp_path, "RS256")
    assert read_metadata(tmp_path) == first
    pem = tmp_path / f"{first['current']}.pem"
    assert pem.stat().st_mode & 0o077 == 0
    assert load_keyring(tmp_path).previous is None


def test_rotation_keeps_previous_prunes_older_and_refuses_too_soon(tmp_path: Path) -> None:
    ensure_keys(tmp_path, "RS256")
    k1 = read_metadata(tmp_path)["current"]
    k2 = rotate_keys(tmp_path, "ES256", activate_after=0, min_interval=900)
    ring = load_keyring(tmp_path)
    assert (ring.current.kid, ring.current.alg) == (k2, "ES256")
    assert ring.previous is not None
    assert ring.previous.kid == k1
    with pytest.raises(RotationTooSoon):  # k1's tokens may still be valid
        rotate_keys(tmp_path, "RS256", activate_after=0, min_interval=900)
    k3 = rotate_keys(tmp_path, "RS256", activate_after=0, min_interval=900,
                     now=time.time() + 1000)
    assert sorted(p.stem for p in tmp_path.glob("*.pem")) == sorted([k2, k3])
    assert [k["kid"] for k in load_keyring(tmp_path).jwks()["keys"]] == [k3, k2]


def test_staged_key_is_published_before_it_signs(tmp_path: Path) -> None:
    ensure_keys(tmp_path, "RS256")
    old = read_metadata(tmp_path)["current"]
    new = rotate_keys(tmp_path, "RS256", activate_after=60, min_interval=900)
    ring = load_keyring(tmp_path)
    assert {k["kid"] for k in ring.jwks()["keys"]} == {old, new}
    assert ring.signer().kid == old
    assert ring.signer(time.time() + 61).kid == new


async def test_rotation_while_serving(auth_app_factory: Any, tmp_path: Path) -> None:
    async with auth_app_factory(JWT_KEYS_DIR=tmp_path, JWT_KEYS_RELOAD_SECONDS=0.05) as auth:
        old_tokens = await auth.login(await auth.register())
        old_kid = jwt.get_unverified_header(old_tokens["access_token"])["kid"]

        new_kid = rotate_keys(tmp_path, "RS256", activate_after=0, min_interval=0)
        for _ in range(100):  # the running process notices by itself
            if auth.resources.keys.ring.current.kid == new_kid:
                break
            await asyncio.sleep(0.05)
        new_tokens = await auth.login(await auth.register())
        assert jwt.get_unverified_header(new_tokens["access_token"])["kid"] == new_kid

        jwks = (await auth.client.get("/.well-known/jwks.json")).json()
        assert {k["kid"] for k in jwks["keys"]} == {old_kid, new_kid}
        verifier = _verifier(jwks)
        await verifier.verify(old_tokens["access_token"])  # old tokens keep verifying
        await verifier.verify(new_tokens["access_token"])
        out = await auth.client.post(
            "/auth/logout", json={"refresh_token": old_tokens["refresh_token"]},
            headers={"Authorization": f"Bearer {old_tokens['access_token']}"})
        assert out.status_code == 204


def test_keystore_reload_is_a_no_op_without_change(tmp_path: Path) -> None:
    ensure_keys(tmp_path, "RS256")
    store = KeyStore(tmp_path)
    ring = store.ring
    assert not store.reload_if_changed()
    assert store.ring is ring  # keys are parsed once, not per use


def test_cli_rotate_and_show(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("JWT_KEYS_DIR", str(tmp_path))
    monkeypatch.setenv("ENVIRONMENT", "test")
    cli.main(["rotate-keys", "--activate-after", "0"])
    rotated = json.loads(capsys.readouterr().out.splitlines()[-1])  # after any log line
    cli.main(["show-jwks"])
    jwks = json.loads(capsys.readouterr().out)
    assert rotated["current"] in {k["kid"] for k in jwks["keys"]}
    assert len(jwks["keys"]) == 2
    with pytest.raises(SystemExit) as refused:  # too soon: the first key may be live
        cli.main(["rotate-keys"])
    assert refused.value.code == 2
