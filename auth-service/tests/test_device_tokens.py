"""Device tokens: signed per account, checked in constant time, issued by every successful
login as an HttpOnly cookie and in the body."""

from http.cookies import SimpleCookie
from typing import Any

import pytest
from pydantic import ValidationError

from auth_service.config import Settings
from auth_service.device_tokens import DeviceTokens

SECRET = "a test secret of enough length"


def test_a_token_is_valid_for_its_account_only_until_it_expires() -> None:
    tokens = DeviceTokens(SECRET, ttl_seconds=3600)
    token = tokens.issue("account-a", now=1_000_000)
    device = tokens.device_of(token, "account-a", now=1_000_000 + 3599)
    assert device is not None
    assert tokens.device_of(token, "account-b", now=1_000_000) is None  # bound to its account
    assert tokens.device_of(token, "account-a", now=1_000_000 + 3601) is None  # expired
    assert tokens.device_of(token, "account-a", now=1_000_000 - 3600) is None  # from the future
    # Renewal keeps the device's id (its own counter) with a new date.
    renewed = tokens.issue("account-a", device, now=1_000_500)
    assert renewed != token
    assert tokens.device_of(renewed, "account-a", now=1_000_500) == device


def test_tampered_foreign_and_malformed_tokens_prove_nothing() -> None:
    tokens = DeviceTokens(SECRET, ttl_seconds=3600)
    token = tokens.issue("account-a", now=1_000_000)
    device, issued, mac = token.split(".")
    forged = [
        f"{device}.{int(issued) + 1}.{mac}",  # a later date under the old MAC
        f"x{device[1:]}.{issued}.{mac}",  # another device id
        f"{device}.{issued}.{mac[:-1]}{'A' if mac[-1] != 'A' else 'B'}",
        DeviceTokens("another secret, same length!!", ttl_seconds=3600).issue(
            "account-a", device, now=1_000_000),
        "", ".", "..", "a.b.c", f"{device}.-5.{mac}", token + "x" * 200, "é.1.x",
    ]
    for candidate in forged:
        assert tokens.device_of(candidate, "account-a", now=1_000_000) is None, candidate
    assert tokens.device_of(None, "account-a") is None


async def test_login_sets_the_device_cookie_and_returns_the_token(auth: Any) -> None:
    email = await auth.register()
    response = await auth.client.post("/auth/login",
                                      json={"email": email, "password": auth.password})
    assert response.status_code == 200
    body = response.json()
    assert {"access_token", "refresh_token", "expires_in", "token_type"} < body.keys()
    cookie = SimpleCookie(response.headers["set-cookie"])["device_token"]
    assert cookie.value == body["device_token"]
    assert cookie["path"] == "/auth"
    assert cookie["httponly"]
    assert cookie["secure"]
    assert cookie["samesite"].lower() == "strict"
    assert int(cookie["max-age"]) == auth.resources.settings.DEVICE_TOKEN_TTL_SECONDS
    account = auth.resources.throttle.account_of(email)
    assert auth.resources.throttle.devices.device_of(body["device_token"], account)


async def test_plain_http_setups_may_drop_secure(auth_app_factory: Any) -> None:
    async with auth_app_factory(DEVICE_COOKIE_SECURE=False) as auth:
        email = await auth.register()
        response = await auth.client.post("/auth/login",
                                          json={"email": email, "password": auth.password})
        assert "secure" not in response.headers["set-cookie"].lower()


async def test_the_openapi_schema_documents_the_device_token(auth: Any) -> None:
    spec = auth.app.openapi()
    login = spec["paths"]["/auth/login"]["post"]
    assert {"name": "device_token", "in": "cookie"}.items() <= login["parameters"][0].items()
    body = login["requestBody"]["content"]["application/json"]["schema"]
    assert "device_token" in body["properties"]
    ok = login["responses"]["200"]
    assert "Set-Cookie" in ok["headers"]
    schema = ok["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert "device_token" in spec["components"]["schemas"][schema]["required"]


def test_production_refuses_the_placeholder_secret_and_a_cookie_without_secure(
    tmp_path: Any,
) -> None:
    base = {"ENVIRONMENT": "production", "JWT_KEYS_DIR": tmp_path,
            "INTERNAL_API_TOKEN": "a real internal token, long enough",
            "REDIS_USERNAME": "auth-service",
            "REDIS_PASSWORD": "a real Redis password, long enough"}
    with pytest.raises(ValidationError, match="THROTTLE_SECRET"):
        Settings(**base)
    real = {**base, "THROTTLE_SECRET": "a real throttle secret, long enough"}
    Settings(**real)
    with pytest.raises(ValidationError, match="DEVICE_COOKIE_SECURE"):
        Settings(**real, DEVICE_COOKIE_SECURE=False)
