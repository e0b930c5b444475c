"""Forged and broken access tokens, through the gateway and directly against the user service
(which verifies again): none of them is accepted, every one is a 401 problem."""

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jose import jwt


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _segment(obj: dict[str, Any]) -> str:
    return _b64(json.dumps(obj, separators=(",", ":")).encode())


def _claims(token: str) -> dict[str, Any]:
    return dict(jwt.get_unverified_claims(token))


def _hs256(header: dict[str, Any], claims: dict[str, Any], secret: bytes) -> str:
    signing_input = f"{_segment(header)}.{_segment(claims)}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def _attacks(real: str, kid: str, private_pem: bytes) -> dict[str, str]:
    claims = _claims(real)
    now = int(time.time())
    public_pem = serialization.load_pem_private_key(private_pem, password=None).public_key(
    ).public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())

    def signed(changes: dict[str, Any], headers: dict[str, Any] | None = None,
               key: bytes = private_pem, drop: tuple[str, ...] = ()) -> str:
        body = {k: v for k, v in {**claims, **changes}.items() if k not in drop}
        return str(jwt.encode(body, key.decode(), algorithm="RS256",
                              headers={"kid": kid, **(headers or {})}))

    header, payload, signature = real.split(".")
    admin = {**claims, "roles": ["admin"]}
    attacks = {
        "alg none": f"{_segment({'alg': 'none', 'typ': 'JWT', 'kid': kid})}.{payload}.",
        "alg None, admin": f"{_segment({'alg': 'None', 'kid': kid})}.{_segment(admin)}.",
        "alg none with original signature":
            f"{_segment({'alg': 'none', 'kid': kid})}.{payload}.{signature}",
        "HS256 signed with the public key": _hs256({"alg": "HS256", "kid": kid}, admin,
                                                   public_pem),
        "HS256 with the public key, no kid": _hs256({"alg": "HS256"}, admin, public_pem),
        "tampered roles": f"{header}.{_segment(admin)}.{signature}",
        "tampered sub": f"{header}.{_segment({**claims, 'sub': str(uuid.uuid4())})}.{signature}",
        "tampered exp": f"{header}.{_segment({**claims, 'exp': now + 10**8})}.{signature}",
        "signature stripped": f"{header}.{payload}.",
        "signature of another key, same kid": signed({}, key=other_key),
        "expired": signed({"iat": now - 7200, "nbf": now - 7200, "exp": now - 3600}),
        "not yet valid": signed({"nbf": now + 3600, "iat": now, "exp": now + 7200}),
        "issued in the future": signed({"iat": now + 3600, "nbf": now + 3600,
                                        "exp": now + 7200}),
        "wrong iss": signed({"iss": "https://evil.example"}),
        "wrong aud": signed({"aud": "another-api"}),
        "aud list without ours": signed({"aud": ["another-api"]}),
        "no exp": signed({}, drop=("exp",)),
        "no sub": signed({}, drop=("sub",)),
        "exp as a string": signed({"exp": str(now + 600)}),
        "unknown kid": signed({}, {"kid": "no-such-kid"}),
        "no kid": str(jwt.encode(claims, private_pem.decode(), algorithm="RS256")),
        "alg RS512 on an RS256 key": str(jwt.encode(claims, private_pem.decode(),
                                                    algorithm="RS512", headers={"kid": kid})),
        "kid path traversal": signed({}, {"kid": "../../../../../../dev/null"}),
        "kid absolute path": signed({}, {"kid": "/dev/null"}),
        "kid keys.json": signed({}, {"kid": "../keys/keys.json"}),
        "kid traversal to the real key": signed({}, {"kid": f"x/../{kid}"}),
        "kid SQL": signed({}, {"kid": "' OR '1'='1"}),
        "kid /dev/null with HS256 empty key": _hs256({"alg": "HS256",
                                                       "kid": "../../../../dev/null"}, admin, b""),
        "jku header": signed({}, {"jku": "http://127.0.0.1:1/jwks.json"}),
        "x5u header": signed({}, {"x5u": "http://127.0.0.1:1/cert.pem"}),
        "embedded jwk": signed({}, {"jwk": {"kty": "RSA", "n": "AQAB", "e": "AQAB"}}),
        "x5c header": signed({}, {"x5c": ["MIIB"]}),
        "crit header": signed({}, {"crit": ["exp"]}),
        "huge token (30 kB)": signed({"pad": "x" * 22_000}),
        "huge garbage (30 kB)": "a" * 30_000,
        "garbage": "garbage",
        "three dots": "...",
        "two segments": f"{header}.{payload}",
        "four segments": f"{real}.x",
        "not base64": "!!!.@@@.###",
        "json header not object": f"{_b64(b'[]')}.{payload}.{signature}",
        "header not json": f"{_b64(b'{')}.{payload}.{signature}",
    }
    return attacks


@pytest.mark.parametrize("target", ["gateway", "user-service"])
async def test_no_forged_token_is_accepted(sec_stack, client_for, user, signing_key, problem,
                                           target) -> None:
    kid, private_pem = signing_key
    base = sec_stack.gateway_url if target == "gateway" else sec_stack.user_url
    client = client_for(base)
    real = user["tokens"]["access_token"]
    control = await client.get("/users/me", headers={"Authorization": f"Bearer {real}"})
    assert control.status_code == 200, control.text  # the test could fail

    outcomes: dict[str, int] = {}
    for name, token in _attacks(real, kid, private_pem).items():
        response = await client.get("/users/me", headers={"Authorization": f"Bearer {token}"})
        outcomes[name] = response.status_code
        if response.status_code == 401:
            problem(response, 401)
    # Schemes other than Bearer, and a bare scheme.
    for name, value in {"Basic": "Basic dXNlcjpwYXNz", "bare Bearer": "Bearer",
                        "token without scheme": real, "Bearer twice": f"Bearer Bearer {real}"
                        }.items():
        outcomes[name] = (await client.get("/users/me",
                                           headers={"Authorization": value})).status_code
    accepted = {n: s for n, s in outcomes.items() if s < 400}
    print(f"\n{target}: {len(outcomes)} forged/broken tokens, {len(accepted)} accepted, "
          f"statuses {sorted(set(outcomes.values()))}")
    assert accepted == {}
    assert outcomes == dict.fromkeys(outcomes, 401), {n: s for n, s in outcomes.items()
                                                      if s != 401}


async def test_oversized_token_refused_at_the_gateway(client_for, problem) -> None:
    response = await client_for().get("/users/me",
                                      headers={"Authorization": "Bearer " + "a" * 40_000})
    print(f"\n40 kB bearer token through the gateway -> {response.status_code}")
    problem(response, 431, "headers_too_large")
