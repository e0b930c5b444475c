"""RFC 9457 problem+json: one body shape for every error of every service."""

from http import HTTPStatus
from typing import Any

import orjson
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from shared.context import current_request_id
from shared.tracing import current_trace_id

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


def problem_response(
    status: int,
    code: str | None = None,
    detail: str | None = None,
    *,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> Response:
    """A ready problem+json response."""
    code = code or default_code(status)
    detail = detail or HTTPStatus(status).phrase
    return Response(
        problem_body(status, code, detail, extra=extra),
        status_code=status,
        media_type=PROBLEM_CONTENT_TYPE,
        headers=headers,
    )


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    # Never echo the offending input back: it may be a password.
    return [
        {
            "loc": [str(part) for part in err.get("loc", ())],
            "msg": err.get("msg"),
            "type": err.get("type"),
        }
        for err in exc.errors()
    ]


async def _on_problem(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ProblemError)
    return problem_response(exc.status, exc.code, exc.detail, headers=exc.headers, extra=exc.extra)


async def _on_http_exception(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else None
    headers = dict(exc.headers) if exc.headers else None
    return problem_response(exc.status_code, None, detail, headers=headers)


async def _on_validation_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = _validation_errors(exc)
    if any(e["type"] == "json_invalid" for e in errors):
        return problem_response(400, "malformed_json", "Request body is not valid JSON")
    return problem_response(
        422, "validation_error", "Request failed validation", extra={"errors": errors}
    )


def install_problem_handlers(app: FastAPI) -> None:
    """Make every error of a FastAPI app a problem+json body. Unexpected exceptions are
    answered by RequestContextMiddleware (500, with the request id, no stack trace)."""
    app.add_exception_handler(ProblemError, _on_problem)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
