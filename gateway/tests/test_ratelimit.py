"""Exact sliding-window limits on the real Redis Cluster, and the headers that say so."""

import asyncio
from collections import Counter
from typing import Any

import httpx

from .conftest import RunningGateway, Stack, sign
from .window import DEFAULT_BUCKET_PATH, LimiterWindow


async def burst(gw: RunningGateway, n: int, ip: str = "127.0.0.1",
                path: str = DEFAULT_BUCKET_PATH) -> Counter[int]:
    async with gw.client(ip) as client:
        responses = await asyncio.gather(*(client.get(path) for _ in range(n)))
    return Counter(r.status_code for r in responses)



async def test_90_concurrent_requests_exactly_30_allowed(stack: Stack) -> None:
    gw = await stack.start()
    assert await burst(gw, 90, "127.0.0.11") == Counter({200: 30, 429: 60})
    ratelimit = gw.app.metrics.decisions()
    assert ratelimit == Counter({("redis", "allowed"): 30, ("redis", "refused"): 60})


async def test_limit_is_shared_by_gateway_processes(stack: Stack) -> None:
    first = await stack.start()
    second = await stack.start(RATE_LIMIT_KEY_PREFIX=first.settings.RATE_LIMIT_KEY_PREFIX)
    counts = await asyncio.gather(burst(first, 45, "127.0.0.12"),
                                  burst(second, 45, "127.0.0.12"))
    total = counts[0] + counts[1]
    assert total == Counter({200: 30, 429: 60})


async def test_each_client_ip_has_its_own_bucket(gw: RunningGateway) -> None:
    assert (await burst(gw, 35, "127.0.0.13"))[200] == 30
    assert (await burst(gw, 5, "127.0.0.14")) == Counter({200: 5})


async def test_headers_on_success_and_429(stack: Stack) -> None:
    gw = await stack.start(RATE_LIMIT_REQUESTS=3, RATE_LIMIT_WINDOW_SECONDS=60)
    async with gw.client("127.0.0.15") as client:
        first = await client.get(DEFAULT_BUCKET_PATH)
        await client.get(DEFAULT_BUCKET_PATH)
        await client.get(DEFAULT_BUCKET_PATH)
        refused = await client.get(DEFAULT_BUCKET_PATH)
    assert first.headers["ratelimit-policy"] == '"default";q=3;w=60'
    assert first.headers["ratelimit"] == '"default";r=2;t=60'
    assert first.headers["x-ratelimit-limit"] == "3"
    assert first.headers["x-ratelimit-remaining"] == "2"
    assert first.headers["x-ratelimit-reset"] == "60"
    assert "retry-after" not in first.headers
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    problem = refused.json()
    assert problem["code"] == "rate_limited"
    assert problem["request_id"] == refused.headers["x-request-id"]
    assert refused.headers["x-ratelimit-remaining"] == "0"
    assert refused.headers["ratelimit"].startswith('"default";r=0;t=')
    assert 1 <= int(refused.headers["retry-after"]) <= 60


async def test_headers_on_401_and_404(gw: RunningGateway) -> None:
    async with gw.client("127.0.0.16") as client:
        unauthorized = await client.get("/users/me")
        missing = await client.get("/no/such/thing")
    for response in (unauthorized, missing):
        assert response.headers["ratelimit-policy"] == '"default";q=30;w=60'
        assert response.headers["x-ratelimit-limit"] == "30"
    assert unauthorized.headers["x-ratelimit-remaining"] == "29"
    assert missing.headers["x-ratelimit-remaining"] == "28"


async def test_window_slides_and_retry_after_is_honest(stack: Stack, redis_cluster: Any) -> None:
    gw = await stack.start(RATE_LIMIT_REQUESTS=3, RATE_LIMIT_WINDOW_SECONDS=2)
    with LimiterWindow.of(gw, redis_cluster, "127.0.0.17") as window:
        async with gw.client("127.0.0.17") as client:
            assert (await window.request(client)).status_code == 200
            [first] = window.allowed
            await window.until(first + 1_000_000)
            assert (await window.request(client)).status_code == 200
            assert (await window.request(client)).status_code == 200
            await window.request(client)  # refused while the three are in the window
            # The first request leaves the window 2 s after it was made: one slot frees up.
            await window.until(first + window.window_us + 1)
            assert (await window.request(client)).status_code == 200
            again = await window.request(client)  # refused: the window is full again
            if again.status_code == 429:
                # Retry-After is honest: once that many seconds have passed on the
                # server's clock, the oldest counted request has left the window.
                wait = int(again.headers["retry-after"]) * 1_000_000
                await window.until(window.last_answered_at + wait)
                assert (await window.request(client)).status_code == 200


async def test_refused_requests_do_not_count(stack: Stack, redis_cluster: Any) -> None:
    gw = await stack.start(RATE_LIMIT_REQUESTS=3, RATE_LIMIT_WINDOW_SECONDS=2)
    with LimiterWindow.of(gw, redis_cluster, "127.0.0.18") as window:
        async with gw.client("127.0.0.18") as client:
            statuses = [(await window.request(client)).status_code for _ in range(3)]
            first, last = window.allowed[0], window.allowed[-1]
            # Hammer while the three fill the window, by the Redis clock. Each refusal is
            # checked to add nothing; had one counted, it would also still be in the
            # window after the three have left it, and refuse the requests below.
            while True:
                await window.request(client)
                if window.last_answered_at >= first + window.window_us - 200_000:
                    break
            await window.until(last + window.window_us + 1)
            statuses += [(await window.request(client)).status_code for _ in range(4)]
    assert statuses[:6] == [200] * 6  # the 7th is checked against the window


async def test_per_route_policies_are_separate_buckets(stack: Stack) -> None:
    gw = await stack.start(RATE_LIMIT_ROUTES="/auth/login=2/60,/auth/register=3/60")
    logins = await burst(gw, 5, "127.0.0.19", "/auth/login")
    registers = await burst(gw, 5, "127.0.0.19", "/auth/register")
    others = await burst(gw, 5, "127.0.0.19", "/auth/refresh")
    assert logins == Counter({200: 2, 429: 3})
    assert registers == Counter({200: 3, 429: 2})
    assert others == Counter({200: 5})
    async with gw.client("127.0.0.19") as client:
        response = await client.get("/auth/login")
    assert response.headers["ratelimit-policy"] == '"/auth/login";q=2;w=60'


async def sequential(gw: RunningGateway, n: int, ip: str, path: str) -> list[httpx.Response]:
    async with gw.client(ip) as client:
        return [await client.post(path, json={}) for _ in range(n)]


async def test_credential_endpoints_have_strict_default_policies(stack: Stack) -> None:
    gw = await stack.start()  # nothing configured: the built-in policies apply
    logins = await sequential(gw, 11, "127.0.0.26", "/auth/login")
    assert [r.status_code for r in logins] == [200] * 10 + [429]
    refused = logins[-1]
    assert refused.json()["code"] == "rate_limited"
    assert refused.headers["ratelimit-policy"] == '"/auth/login";q=10;w=60'
    assert int(refused.headers["retry-after"]) >= 1
    registers = await sequential(gw, 6, "127.0.0.26", "/auth/register")
    assert [r.status_code for r in registers] == [200] * 5 + [429]
    assert registers[0].headers["ratelimit-policy"] == '"/auth/register";q=5;w=60'
    # An account-lifecycle path (routed to the recording upstream here).
    forgot = await sequential(gw, 6, "127.0.0.26", "/auth/password/forgot")
    assert [r.status_code for r in forgot] == [200] * 5 + [429]
    assert forgot[0].headers["ratelimit-policy"] == '"/auth/password/forgot";q=5;w=3600'
    expected = {"/auth/login/mfa": (10, 60), "/auth/password/reset": (10, 3600),
                "/auth/verify-email": (10, 3600), "/auth/verify-email/request": (5, 3600),
                "/auth/verify-email/resend": (5, 3600)}
    async with gw.client("127.0.0.26") as client:
        for path, (limit, window) in expected.items():
            response = await client.post(path, json={})
            assert response.headers["ratelimit-policy"] == f'"{path}";q={limit};w={window}'
        # Everything else still counts against `default`, untouched by the buckets above.
        other = await client.post(DEFAULT_BUCKET_PATH, json={})
    assert other.status_code == 200
    assert other.headers["ratelimit"] == '"default";r=29;t=60'


async def test_configured_routes_override_defaults_path_by_path(stack: Stack) -> None:
    gw = await stack.start(RATE_LIMIT_ROUTES=(
        "/auth/login=3/60,/auth/register=default,/restart-probe=2/3600"))
    logins = await sequential(gw, 4, "127.0.0.27", "/auth/login")
    assert [r.status_code for r in logins] == [200, 200, 200, 429]
    assert logins[0].headers["ratelimit-policy"] == '"/auth/login";q=3;w=60'
    # `default` as a rule: no bucket of its own, so register counts against `default`.
    registers = await sequential(gw, 6, "127.0.0.27", "/auth/register")
    assert [r.status_code for r in registers] == [200] * 6
    assert registers[0].headers["ratelimit-policy"] == '"default";q=30;w=60'
    probes = await sequential(gw, 3, "127.0.0.27", "/restart-probe")
    assert [r.status_code for r in probes] == [404, 404, 429]
    # The defaults nobody configured stay in force.
    forgot = await sequential(gw, 6, "127.0.0.27", "/auth/password/forgot")
    assert [r.status_code for r in forgot] == [200] * 5 + [429]


async def test_default_policies_can_be_switched_off(stack: Stack) -> None:
    gw = await stack.start(RATE_LIMIT_DEFAULT_ROUTES=False,
                           RATE_LIMIT_ROUTES="/auth/register=2/60")
    logins = await sequential(gw, 12, "127.0.0.28", "/auth/login")
    assert [r.status_code for r in logins] == [200] * 12
    assert logins[0].headers["ratelimit-policy"] == '"default";q=30;w=60'
    registers = await sequential(gw, 3, "127.0.0.28", "/auth/register")
    assert [r.status_code for r in registers] == [200, 200, 429]


async def test_every_key_has_a_ttl(stack: Stack, redis_cluster: object) -> None:
    gw = await stack.start(RATE_LIMIT_WINDOW_SECONDS=7)
    await burst(gw, 3, "127.0.0.20")
    client = redis_cluster.cluster_client()  # type: ignore[attr-defined]
    try:
        key = f"{gw.settings.RATE_LIMIT_KEY_PREFIX}:{{default:127.0.0.20}}"
        assert client.zcard(key) == 3
        assert 0 < client.pttl(key) <= 7000
    finally:
        client.close()


async def test_a_route_templates_policy_covers_every_id(stack: Stack,
                                                        redis_cluster: object) -> None:
    gw = await stack.start(RATE_LIMIT_ROUTES="/auth/sessions/{session_id}=2/60")
    async with gw.client("127.0.0.29") as client:
        answers = [await client.delete(f"/auth/sessions/{sid}") for sid in ("a", "b", "c")]
        other = await client.delete("/auth/sessions")
    # Limited before the token check: two 401s, then the template's bucket is spent.
    assert [r.status_code for r in answers] == [401, 401, 429]
    assert answers[0].headers["ratelimit-policy"] == '"/auth/sessions/{session_id}";q=2;w=60'
    assert other.headers["ratelimit-policy"] == '"default";q=30;w=60'
    client_ = redis_cluster.cluster_client()  # type: ignore[attr-defined]
    try:
        # One bucket per client, the client's address inside the hash tag.
        key = f"{gw.settings.RATE_LIMIT_KEY_PREFIX}:{{/auth/sessions/(session_id):127.0.0.29}}"
        assert client_.zcard(key) == 2
    finally:
        client_.close()


async def test_health_and_metrics_are_exempt(stack: Stack) -> None:
    gw = await stack.start(RATE_LIMIT_REQUESTS=1)
    async with gw.client("127.0.0.21") as client:
        for _ in range(5):
            live = await client.get("/health/live")
            assert live.status_code == 200
            assert "ratelimit" not in live.headers
            assert (await client.get(gw.metrics_url)).status_code == 200  # private listener
        assert (await client.get(DEFAULT_BUCKET_PATH)).status_code == 200
        assert (await client.get(DEFAULT_BUCKET_PATH)).status_code == 429


async def test_forged_forwarded_for_is_ignored_by_default(gw: RunningGateway,
                                                          stack: Stack) -> None:
    async with gw.client("127.0.0.22") as client:
        statuses = Counter()
        for i in range(32):
            response = await client.get(DEFAULT_BUCKET_PATH,
                                        headers={"X-Forwarded-For": f"10.9.{i}.1"})
            statuses[response.status_code] += 1
    assert statuses == Counter({200: 30, 429: 2})
    assert {r.header("x-forwarded-for") for r in stack.auth.requests} == {"127.0.0.22"}


async def test_forwarded_for_honoured_only_from_trusted_proxy(stack: Stack) -> None:
    gw = await stack.start(RATE_LIMIT_REQUESTS=2, TRUSTED_PROXIES="127.0.0.23/32")

    async def status(ip: str, xff: str) -> int:
        async with gw.client(ip) as client:
            response = await client.get(DEFAULT_BUCKET_PATH, headers={"X-Forwarded-For": xff})
            return response.status_code

    # Rightmost walk: the proxy's own hop is skipped, the first untrusted one is the client.
    assert [await status("127.0.0.23", "6.6.6.6, 10.0.0.1") for _ in range(3)] == [
        200, 200, 429]
    assert await status("127.0.0.23", "10.0.0.2") == 200
    assert stack.auth.requests[-1].header("x-forwarded-for") == "10.0.0.2"
    # Not from the trusted proxy: the header is ignored and the peer is the client.
    assert [await status("127.0.0.24", f"10.0.0.{i}") for i in range(3)] == [200, 200, 429]
    assert stack.auth.requests[-1].header("x-forwarded-for") == "127.0.0.24"


async def test_jwt_checked_after_rate_limit(stack: Stack) -> None:
    gw = await stack.start(RATE_LIMIT_REQUESTS=2)
    headers = {"Authorization": "Bearer garbage"}
    async with gw.client("127.0.0.25") as client:
        statuses = [(await client.get("/users/me", headers=headers)).status_code
                    for _ in range(3)]
        ok = await client.get("/users/me",
                              headers={"Authorization": f"Bearer {sign()}"})
    assert statuses == [401, 401, 429]
    assert ok.status_code == 429
    assert isinstance(ok, httpx.Response)


async def test_a_key_prefix_outside_its_acl_user_is_refused_by_redis(stack: Stack) -> None:
    """The gateway's Redis user may only touch `rl:*`: with another prefix every limiter
    call is refused (NOPERM), and the fallback limiter decides, exactly, in its place."""
    gw = await stack.start(RATE_LIMIT_KEY_PREFIX="outside", RATE_LIMIT_REQUESTS=3)
    assert await burst(gw, 5, "127.0.0.16") == Counter({200: 3, 429: 2})
    assert {source for source, _ in gw.app.metrics.decisions()} == {"fallback"}
    assert gw.app.resources is not None
    errors = gw.app.resources.limiter.breaker.errors
    assert errors
    assert "TimeoutError" not in errors  # Redis answered, with a refusal
