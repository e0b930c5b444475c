"""Every error of a shared-built app is problem+json with a code and the request id."""

import httpx
from pydantic import BaseModel

from shared import ProblemError
from shared.web import Readiness, build_service_app


class Body(BaseModel):
    name: str


def make_app() -> httpx.AsyncClient:
    readiness = Readiness()

    async def failing() -> None:
        raise ConnectionError("down")

    readiness.add("db", failing)
    app = build_service_app(title="t", version="1", readiness=readiness)

    @app.post("/echo")
    async def echo(body: Body) -> dict[str, str]:
        return {"name": body.name}

    @app.get("/conflict")
    async def conflict() -> None:
        raise ProblemError(409, "email_taken", "Email already registered")

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret stack detail")

    return httpx.AsyncClient(transport=httpx.ASGITransport(app, raise_app_exceptions=False),
                             base_url="http://t")


async def test_problem_error_and_request_id_echo() -> None:
    async with make_app() as client:
        response = await client.get("/conflict", headers={"X-Request-ID": "abc-123"})
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["x-request-id"] == "abc-123"
    body = response.json()
    assert body["code"] == "email_taken"
    assert body["request_id"] == "abc-123"
    assert {"type", "title", "status", "detail"} <= body.keys()


async def test_malformed_json_is_400_and_validation_is_422_without_echoing_input() -> None:
    async with make_app() as client:
        bad_json = await client.post("/echo", content=b"{not json",
                                     headers={"content-type": "application/json"})
        invalid = await client.post("/echo", json={"name": 123, "password": "hunter2"})
    assert bad_json.status_code == 400
    assert bad_json.json()["code"] == "malformed_json"
    assert invalid.status_code == 422
    assert invalid.json()["code"] == "validation_error"
    assert "hunter2" not in invalid.text


async def test_unknown_route_and_crash_are_problems_without_traces() -> None:
    async with make_app() as client:
        missing = await client.get("/nope")
        crash = await client.get("/boom")
    assert missing.status_code == 404
    assert missing.json()["code"] == "not_found"
    assert crash.status_code == 500
    assert crash.json()["code"] == "internal_error"
    assert "secret stack detail" not in crash.text
    assert crash.headers["x-request-id"]


async def test_readiness_reports_failing_dependency() -> None:
    async with make_app() as client:
        live = await client.get("/health/live")
        ready = await client.get("/health/ready")
    assert live.status_code == 200
    assert ready.status_code == 503
    assert ready.headers["retry-after"] == "5"
    assert ready.json()["checks"] == {"db": "ConnectionError"}
