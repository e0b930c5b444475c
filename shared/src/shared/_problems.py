"""RFC 9457 problem+json: one body shape for every error of every service."""

from http import HTTPStatus
from typing import Any

import orjson

from shared._context import current_request_id
from shared._tracing import current_trace_id

PROBLEM_CONTENT_TYPE = "application/problem+json"

# Default machine-readable codes for statuses raised without one.
_DEFAULT_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gateway_timeout",
}


def default_code(status: int) -> str:
    return _DEFAULT_CODES.get(status, f"http_{status}")


class ProblemError(Exception):
    """Raise anywhere in a request to answer with a problem+json body."""

    def __init__(
        self,
        status: int,
        code: str | None = None,
        detail: str | None = None,
        *,
        title: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.status = status
        self.code = code or default_code(status)
        self.title = title or HTTPStatus(status).phrase
        self.detail = detail or self.title
        self.headers = headers or {}
        self.extra = extra or {}
        super().__init__(f"{status} {self.code}: {self.detail}")


def problem_body(
    status: int,
    code: str,
    detail: str,
    *,
    title: str | None = None,
    request_id: str | None = None,
    extra: dict[str, Any] | None = None,
) -> bytes:
    """Serialised problem document; request_id defaults to the current request's."""
    body: dict[str, Any] = {
        "type": f"urn:authstack:problem:{code}",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
        "request_id": request_id or current_request_id(),
    }
    trace_id = current_trace_id()
    if trace_id is not None:
        body["trace_id"] = trace_id
    if extra:
        body.update(extra)
    return orjson.dumps(body)
