"""Assertions every test suite shares (a pytest plugin, loaded by the root conftest)."""

from collections.abc import Callable
from typing import Any

import httpx
import pytest

PROBLEM_FIELDS = frozenset({"type", "title", "status", "detail", "code", "request_id"})


def assert_problem(
    response: httpx.Response, status: int, code: str | None = None
) -> dict[str, Any]:
    """The response is an RFC 9457 problem+json with our fields, whose request_id is the
    one echoed in X-Request-ID; returns the body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    body: dict[str, Any] = response.json()
    assert body.keys() >= PROBLEM_FIELDS, body
    assert body["status"] == status
    assert body["request_id"] == response.headers["x-request-id"]
    if code is not None:
        assert body["code"] == code, body
    return body


@pytest.fixture
def problem() -> Callable[..., dict[str, Any]]:
    """`problem(response, status, code)` asserts a problem+json answer and returns its body."""
    return assert_problem
