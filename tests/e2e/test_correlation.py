"""One request can be followed across the gateway and both services by its request id."""

import asyncio
import uuid

import httpx


async def test_request_id_is_echoed_or_minted(client: httpx.AsyncClient) -> None:
    given = await client.get("/health/live", headers={"X-Request-ID": "trace-me.1"})
    assert given.headers["x-request-id"] == "trace-me.1"
    unsafe = await client.get("/health/live", headers={"X-Request-ID": "bad id\t<script>"})
    assert unsafe.headers["x-request-id"] not in ("", "bad id\t<script>")
    missing = await client.get("/nope")
    assert missing.headers["x-request-id"]
    assert missing.json()["request_id"] == missing.headers["x-request-id"]


async def test_request_id_reaches_every_service_log(client: httpx.AsyncClient, register, stack):
    account = await register(client)
    request_id = f"e2e-{uuid.uuid4().hex}"
    # Login goes gateway -> auth-service -> user-service.
    login = await client.post("/auth/login", headers={"X-Request-ID": request_id},
                              json={"email": account.email, "password": account.password})
    assert login.status_code == 200
    assert login.headers["x-request-id"] == request_id
    for service in ("gateway", "auth-service", "user-service"):
        lines = await _logged(stack, service, request_id)
        assert lines, f"{service} logged nothing with request_id {request_id}"
        assert all(line.get("request_id") == request_id for line in lines)


async def _logged(stack, service: str, request_id: str) -> list[dict]:
    # Access lines are written once the response has gone out: give them a moment.
    for _ in range(50):
        lines = stack.log_lines(service, containing=request_id)
        if any(line.get("event") == "request" for line in lines):
            return lines
        await asyncio.sleep(0.1)
    return stack.log_lines(service, containing=request_id)
