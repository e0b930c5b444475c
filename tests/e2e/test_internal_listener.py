"""The user service's internal API has a listener of its own (INTERNAL_PORT), so a network
policy on ports can admit only the auth service to it: on the public port /internal/*
does not exist (404, the same as any unknown path, even with the service credential), on
the internal port the public routes do not, and health answers on both. Every other e2e
test goes through the auth service calling the internal port."""

import uuid
from typing import Any

import httpx

from devstack.stack import Stack

UNKNOWN = {"email": f"nobody-{uuid.uuid4().hex[:12]}@example.com"}


def _is_plain_404(response: httpx.Response) -> None:
    assert response.status_code == 404, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "not_found"


async def test_the_internal_api_answers_only_on_its_own_listener(stack: Stack) -> None:
    assert stack.config.user_internal_port not in (0, stack.config.user_port)
    credential = {"X-Internal-Token": stack.internal_token}
    async with httpx.AsyncClient(timeout=15) as client:
        on_public = await client.post(f"{stack.user_url}/internal/credentials", json=UNKNOWN,
                                      headers=credential)
        without_credential = await client.post(f"{stack.user_url}/internal/credentials",
                                               json=UNKNOWN)
        on_internal = await client.post(f"{stack.user_internal_url}/internal/credentials",
                                        json=UNKNOWN, headers=credential)
        stranger = await client.post(f"{stack.user_internal_url}/internal/credentials",
                                     json=UNKNOWN)
        public_route_on_internal = await client.get(f"{stack.user_internal_url}/users/me")
        health: dict[str, Any] = {
            url: (await client.get(f"{url}/health/live")).status_code
            for url in (stack.user_url, stack.user_internal_url)}
    _is_plain_404(on_public)
    _is_plain_404(without_credential)  # not 401: the public port says nothing of the API
    assert on_internal.status_code == 404, on_internal.text
    assert on_internal.json()["code"] == "user_not_found"  # the API itself answered
    assert stranger.status_code == 401
    assert stranger.json()["code"] == "invalid_service_credential"
    _is_plain_404(public_route_on_internal)
    assert set(health.values()) == {200}
