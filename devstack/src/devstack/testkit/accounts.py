"""Accounts made the way a client makes them: through the gateway's public API."""

from __future__ import annotations

from typing import Any

import httpx


async def register_and_login(client: httpx.AsyncClient, email: str,
                             password: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Register `email` and log in: (the created user, the token pair)."""
    created = await client.post("/auth/register", json={"email": email, "password": password})
    assert created.status_code == 201, created.text
    login = await client.post("/auth/login", json={"email": email, "password": password})
    assert login.status_code == 200, login.text
    return created.json(), login.json()
