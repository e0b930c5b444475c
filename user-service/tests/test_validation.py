"""Bad input is a 4xx problem+json with a stable code, never a 500."""

import httpx
import pytest


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"email": "not-an-email", "password_hash": "h"}, 422, "validation_error"),
    ({"email": "a@" + "x" * 250 + ".com", "password_hash": "h"}, 422, "validation_error"),
    ({"email": "a@example.com", "password_hash": "h", "role": "root"}, 422, "validation_error"),
    ({"email": "a@example.com", "password_hash": "h", "is_admin": True}, 422, "validation_error"),
    ({"email": "a@example.com", "password_hash": "h", "display_name": "x" * 101},
     422, "validation_error"),
    ({"email": "a@example.com", "password_hash": "h\x00"}, 422, "validation_error"),
    ({"email": "a@example.com", "password_hash": "h", "display_name": "nul\x00"},
     422, "validation_error"),
    ({"email": "a@example.com"}, 422, "validation_error"),
    ({"email": 12, "password_hash": "h"}, 422, "validation_error"),
    ([], 422, "validation_error"),
])
async def test_internal_create_rejects(
    client: httpx.AsyncClient, internal, body, status, code, problem
) -> None:
    problem(await client.post("/internal/users", json=body, headers=internal), status, code)


async def test_malformed_json(client: httpx.AsyncClient, internal, user, problem) -> None:
    headers = {**internal, "Content-Type": "application/json"}
    problem(await client.post("/internal/users", content=b"{not json", headers=headers),
            400, "malformed_json")
    me_headers = {**user.auth, "Content-Type": "application/json"}
    problem(await client.patch("/users/me", content=b'{"display_name": ', headers=me_headers),
            400, "malformed_json")


@pytest.mark.parametrize("body", [
    {"display_name": "x" * 101},
    {"display_name": 5},
    {"role": "admin"},  # not self-service
    {"email": "bad", "current_password": "x"},
    {"is_active": False},
    {"display_name": "tab\there"},
])
async def test_patch_me_rejects(client: httpx.AsyncClient, user, body, problem) -> None:
    problem(await client.patch("/users/me", json=body, headers=user.auth), 422)


async def test_invalid_uuids(client: httpx.AsyncClient, admin, internal, problem) -> None:
    problem(await client.get("/users/not-a-uuid", headers=admin.auth), 422, "validation_error")
    problem(await client.delete("/users/123", headers=admin.auth), 422, "validation_error")
    problem(await client.patch("/users/zzz", json={}, headers=admin.auth), 422)
    problem(await client.get("/internal/users/nope", headers=internal), 422)
    problem(await client.put("/internal/users/nope/password-hash", json={"password_hash": "x"},
                             headers=internal), 422)


async def test_admin_patch_unknown_field(client: httpx.AsyncClient, admin, user, problem) -> None:
    response = await client.patch(f"/users/{user.id}", json={"password_hash": "x"},
                                  headers=admin.auth)
    problem(response, 422, "validation_error")


async def test_oversized_query_values(client: httpx.AsyncClient, admin, problem) -> None:
    problem(await client.get("/users", params={"email_prefix": "a" * 300}, headers=admin.auth),
            422)
    problem(await client.get("/users", params={"limit": "many"}, headers=admin.auth), 422)
    problem(await client.get("/users", params={"is_active": "maybe"}, headers=admin.auth), 422)


async def test_email_prefix_with_nul_is_not_a_500(
    client: httpx.AsyncClient, admin, problem
) -> None:
    response = await client.get("/users", params={"email_prefix": "a\x00b"}, headers=admin.auth)
    problem(response, 422, "validation_error")


async def test_credentials_lookup_with_nul_is_not_a_500(
    client: httpx.AsyncClient, internal, problem
) -> None:
    response = await client.post("/internal/credentials", json={"email": "a\x00@example.com"},
                                 headers=internal)
    problem(response, 422, "validation_error")
