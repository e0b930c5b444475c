"""One request is one trace across gateway -> auth-service -> user-service (W3C traceparent),
and its trace id reaches the logs and problem bodies (tracing is on in the e2e stack)."""

import asyncio
import secrets

import httpx

from devstack.testkit.otlp import OtlpReceiver, ReceivedSpan

SERVICES = {"gateway", "auth-service", "user-service"}


def _complete(spans: list[ReceivedSpan], parent: str) -> bool:
    """Everything the test asserts on has arrived. Each service exports its spans in batches
    as they end, so the gateway's server span (it ends last) can come a batch after the
    gateway's own client spans, and a child's batch before its parent's."""
    ids = {s.span_id for s in spans} | {parent}
    return ({s.service for s in spans} >= SERVICES
            and any(s.service == "gateway" and s.parent_span_id == parent for s in spans)
            and all(s.parent_span_id in ids for s in spans))


async def _wait_for_trace(receiver: OtlpReceiver, trace_id: str, parent: str) -> set[str]:
    services: set[str] = set()
    for _ in range(100):  # spans are flushed every 100 ms; allow ~10 s
        spans = receiver.trace(trace_id)
        services = {span.service for span in spans}
        if _complete(spans, parent):
            break
        await asyncio.sleep(0.1)
    return services


async def test_login_is_one_trace_across_all_three_services(
    client: httpx.AsyncClient, register, otlp_receiver: OtlpReceiver, stack
) -> None:
    account = await register(client)
    trace_id, parent = secrets.token_hex(16), secrets.token_hex(8)
    login = await client.post(
        "/auth/login", json={"email": account.email, "password": account.password},
        headers={"traceparent": f"00-{trace_id}-{parent}-01"},
    )
    assert login.status_code == 200

    assert await _wait_for_trace(otlp_receiver, trace_id, parent) == SERVICES
    spans = otlp_receiver.trace(trace_id)
    # The gateway's server span continues the caller's trace under the given parent.
    assert any(s.service == "gateway" and s.parent_span_id == parent for s in spans)
    # Every other span hangs under a span of the same trace: no broken links.
    ids = {s.span_id for s in spans} | {parent}
    assert all(s.parent_span_id in ids for s in spans)
    # Redis commands are client spans too: the gateway's limiter script, auth's throttle.
    redis_spans = {(s.service, s.name) for s in spans if s.name in ("EVALSHA", "DEL")}
    assert ("gateway", "EVALSHA") in redis_spans
    assert ("auth-service", "EVALSHA") in redis_spans

    request_id = login.headers["x-request-id"]
    for service in SERVICES:
        lines = stack.log_lines(service, containing=request_id)
        assert any(line.get("trace_id") == trace_id for line in lines), service


async def test_problem_bodies_carry_the_trace_id(client: httpx.AsyncClient, problem) -> None:
    trace_id = secrets.token_hex(16)
    response = await client.post(
        "/auth/login", json={"email": "nobody@example.com", "password": "x" * 20},
        headers={"traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01"},
    )
    body = problem(response, 401, "invalid_credentials")
    assert body["trace_id"] == trace_id
