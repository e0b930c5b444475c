"""The shared verifier refuses every token it must refuse, and accepts the good one."""

import base64
import json
import time
import uuid
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jose import jwk, jwt

from shared import JwtVerifier, Principal, StaticKeySet, TokenError

ISSUER, AUDIENCE = "authstack", "authstack-api"
ALGS = frozenset({"RS256", "ES256"})


def _rsa_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _ec_pem() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _public_jwk(pem: bytes, alg: str, kid: str) -> dict[str, Any]:
    public = jwk.construct(pem, alg).public_key().to_dict()
    return {**public, "kid": kid, "alg": alg, "use": "sig"}


RSA_PEM, EC_PEM = _rsa_pem(), _ec_pem()
JWKS = {"keys": [_public_jwk(RSA_PEM, "RS256", "rsa-1"), _public_jwk(EC_PEM, "ES256", "ec-1")]}


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "iss": ISSUER, "aud": AUDIENCE, "sub": str(uuid.uuid4()), "iat": now, "nbf": now,
        "exp": now + 900, "jti": uuid.uuid4().hex, "roles": ["user"],
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def sign(payload: dict[str, Any], pem: bytes = RSA_PEM, alg: str = "RS256", **headers: Any) -> str:
    return jwt.encode(payload, pem.decode(), algorithm=alg, headers={"kid": "rsa-1", **headers})


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture
def verifier() -> JwtVerifier:
    return JwtVerifier(StaticKeySet(JWKS, ALGS), issuer=ISSUER, audience=AUDIENCE, algorithms=ALGS)


async def test_valid_rs256_and_es256_tokens_are_accepted(verifier: JwtVerifier) -> None:
    payload = claims(roles=["admin"])
    principal = await verifier.verify(sign(payload))
    assert principal.subject == payload["sub"]
    assert principal.is_admin
    es = jwt.encode(claims(), EC_PEM.decode(), algorithm="ES256", headers={"kid": "ec-1"})
    assert (await verifier.verify(es)).roles == ("user",)


def _hs256_with_public_key() -> str:
    public_pem = jwk.construct(RSA_PEM, "RS256").public_key().to_pem()
    header = b64(json.dumps({"alg": "HS256", "kid": "rsa-1", "typ": "JWT"}).encode())
    body = b64(json.dumps(claims()).encode())
    import hashlib
    import hmac

    sig = hmac.new(public_pem, f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{b64(sig)}"


def _alg_none() -> str:
    header = b64(json.dumps({"alg": "none", "kid": "rsa-1"}).encode())
    return f"{header}.{b64(json.dumps(claims()).encode())}."


def _tampered() -> str:
    header, _, signature = sign(claims()).split(".")
    forged = b64(json.dumps(claims(roles=["admin"])).encode())
    return f"{header}.{forged}.{signature}"


def _es256_header_on_rsa_key() -> str:
    return jwt.encode(claims(), EC_PEM.decode(), algorithm="ES256", headers={"kid": "rsa-1"})


BAD_TOKENS = {
    "expired": lambda: sign(claims(exp=int(time.time()) - 120, iat=int(time.time()) - 1000)),
    "not_yet_valid": lambda: sign(claims(nbf=int(time.time()) + 600)),
    "wrong_issuer": lambda: sign(claims(iss="someone-else")),
    "wrong_audience": lambda: sign(claims(aud="other-api")),
    "missing_jti": lambda: sign(claims(jti=None)),
    "missing_sub": lambda: sign(claims(sub=None)),
    "alg_none": _alg_none,
    "hs256_with_public_key": _hs256_with_public_key,
    "tampered_payload": _tampered,
    "alg_not_matching_key": _es256_header_on_rsa_key,
    "unknown_kid": lambda: sign(claims(), kid="rsa-2"),
    "kid_path_trick": lambda: sign(claims(), kid="../../../../dev/null"),
    "jku_header": lambda: sign(claims(), jku="http://127.0.0.1:1/jwks.json"),
    "x5u_header": lambda: sign(claims(), x5u="http://127.0.0.1:1/cert.pem"),
    "roles_not_a_list": lambda: sign(claims(roles="admin")),
    "huge": lambda: sign(claims(pad="x" * 10_000)),
    "garbage": lambda: "not-a-token",
    "empty": lambda: "",
    "three_garbage_parts": lambda: "a.b.c",
}


@pytest.mark.parametrize("case", sorted(BAD_TOKENS))
async def test_bad_tokens_are_refused(verifier: JwtVerifier, case: str) -> None:
    with pytest.raises(TokenError) as refused:
        await verifier.verify(BAD_TOKENS[case]())
    assert refused.value.code in {"invalid_token", "token_expired"}


async def test_expired_token_has_its_own_code(verifier: JwtVerifier) -> None:
    with pytest.raises(TokenError) as refused:
        await verifier.verify(BAD_TOKENS["expired"]())
    assert refused.value.code == "token_expired"


def test_symmetric_algorithms_cannot_be_configured() -> None:
    with pytest.raises(ValueError, match="asymmetric"):
        JwtVerifier(StaticKeySet(JWKS, ALGS), issuer=ISSUER, audience=AUDIENCE,
                    algorithms=frozenset({"HS256"}))


def test_private_and_symmetric_jwks_entries_are_ignored() -> None:
    private = {**jwk.construct(RSA_PEM, "RS256").to_dict(), "kid": "priv", "alg": "RS256"}
    oct_key = {"kty": "oct", "k": b64(b"secret"), "kid": "oct", "alg": "HS256"}
    keys = StaticKeySet({"keys": [private, oct_key]}, frozenset({"RS256", "HS256"}))
    assert keys.get("priv") is None
    assert keys.get("oct") is None


# -- the cache of verified tokens ----------------------------------------------------------


class MutableKeySet:
    """A key set whose keys a test can replace (as a JWKS refetch would)."""

    def __init__(self, jwks: dict[str, Any]) -> None:
        self.keys = StaticKeySet(jwks, ALGS)

    def get(self, kid: str) -> tuple[Any, str] | None:
        return self.keys.get(kid)

    async def refresh_for_unknown_kid(self) -> None:
        return None


def _caching(keys: Any, size: int = 100) -> JwtVerifier:
    return JwtVerifier(keys, issuer=ISSUER, audience=AUDIENCE, algorithms=ALGS,
                       cache_size=size)


async def test_a_cached_token_is_not_verified_again(monkeypatch: pytest.MonkeyPatch) -> None:
    verifier = _caching(StaticKeySet(JWKS, ALGS))
    decoded: list[str] = []
    real_decode = verifier._decode

    def counting_decode(token: str, *rest: Any) -> Any:
        decoded.append(token)
        return real_decode(token, *rest)

    monkeypatch.setattr(verifier, "_decode", counting_decode)
    token = sign(claims())
    first, second = await verifier.verify(token), await verifier.verify(token)
    assert second is first
    assert len(decoded) == 1
    assert verifier.cache is not None
    assert (verifier.cache.hits, verifier.cache.misses) == (1, 1)


@pytest.mark.parametrize("case", sorted(BAD_TOKENS))
async def test_refused_tokens_are_never_cached(case: str) -> None:
    verifier = _caching(StaticKeySet(JWKS, ALGS))
    token = BAD_TOKENS[case]()
    for _ in range(2):
        with pytest.raises(TokenError):
            await verifier.verify(token)
    assert verifier.cache is not None
    assert len(verifier.cache) == 0


async def test_a_cached_token_is_dropped_at_its_expiry() -> None:
    keys = StaticKeySet(JWKS, ALGS)
    verifier = _caching(keys)
    payload = claims()
    token = sign(payload)
    await verifier.verify(token)
    assert verifier.cache is not None
    assert verifier.cache.get(token, payload["exp"] - 1, keys) is not None
    assert verifier.cache.get(token, payload["exp"], keys) is None
    assert len(verifier.cache) == 0


async def test_a_replaced_key_drops_the_tokens_it_verified() -> None:
    """After a JWKS refetch that replaces kid rsa-1, a token signed with the old key must be
    verified again (and refused), not served from the cache."""
    keys = MutableKeySet(JWKS)
    verifier = _caching(keys)
    token = sign(claims())
    await verifier.verify(token)
    keys.keys = StaticKeySet({"keys": [_public_jwk(_rsa_pem(), "RS256", "rsa-1")]}, ALGS)
    with pytest.raises(TokenError, match="signature"):
        await verifier.verify(token)


async def test_the_cache_is_bounded_least_recently_used_first() -> None:
    keys = StaticKeySet(JWKS, ALGS)
    verifier = _caching(keys, size=2)
    a, b, c = (sign(claims()) for _ in range(3))
    for token in (a, b, a, c):  # a is used again before c arrives: b is the one evicted
        await verifier.verify(token)
    cache = verifier.cache
    assert cache is not None
    assert len(cache) == 2
    now = time.time()
    assert cache.get(b, now, keys) is None
    assert cache.get(a, now, keys) is not None
    assert cache.get(c, now, keys) is not None


class _Revoked:
    """A RevocationCheck over a plain set of session ids (shared.redis has the real one)."""

    def __init__(self) -> None:
        self.sessions: set[str] = set()
        self.calls = 0

    def check(self, principal: Any) -> None:
        self.calls += 1
        if principal.session_id in self.sessions:
            raise TokenError("token_revoked", "Token has been revoked")


async def test_a_revoked_session_is_refused_from_the_cache_too() -> None:
    revoked = _Revoked()
    verifier = JwtVerifier(StaticKeySet(JWKS, ALGS), issuer=ISSUER, audience=AUDIENCE,
                           algorithms=ALGS, cache_size=10, revocations=revoked)
    token = sign(claims(sid="s-1"))
    principal = await verifier.verify(token)
    assert principal.session_id == "s-1"
    assert principal.issued_at == principal.claims["iat"]
    await verifier.verify(token)  # a cache hit, still checked
    assert verifier.cache is not None
    assert verifier.cache.hits == 1
    revoked.sessions.add("s-1")
    with pytest.raises(TokenError) as refused:
        await verifier.verify(token)
    assert refused.value.code == "token_revoked"
    assert refused.value.status == 401
    assert revoked.calls == 3


async def test_a_malformed_sid_is_refused(verifier: JwtVerifier) -> None:
    with pytest.raises(TokenError) as refused:
        await verifier.verify(sign(claims(sid=42)))
    assert refused.value.code == "invalid_token"


def _principal(**claims: object) -> Principal:
    return Principal(subject="u", roles=("user",), token_id="j", expires_at=0,
                     claims=dict(claims), issued_at=1_000)


def test_recent_second_factor_needs_otp_or_recovery_code_in_amr_and_a_recent_auth_time() -> None:
    assert _principal(amr=["pwd", "otp"], auth_time=1_500).has_recent_second_factor(600, 2_000)
    assert _principal(amr=["pwd", "mfa"], auth_time=1_500).has_recent_second_factor(600, 2_000)
    assert not _principal(amr=["pwd"], auth_time=1_990).has_recent_second_factor(600, 2_000)
    assert not _principal(amr=["pwd", "otp"], auth_time=1_000).has_recent_second_factor(600, 2_000)


def test_auth_time_falls_back_to_iat_and_odd_claims_read_as_absent() -> None:
    assert _principal(amr=["pwd", "otp"]).auth_time == 1_000
    assert _principal(auth_time=True).auth_time == 1_000
    assert _principal(amr="otp").amr == ()
    assert _principal(amr=["pwd", 7, "otp"]).amr == ("pwd", "otp")
