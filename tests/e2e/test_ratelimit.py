"""Per-IP rate limiting as a client sees it through the gateway (default 30 per 60 s)."""

import asyncio
import uuid

import httpx


async def test_thirty_allowed_then_429_with_headers(new_client, problem) -> None:
    client = new_client()
    responses = await asyncio.gather(*(client.get("/.well-known/jwks.json") for _ in range(45)))
    statuses = [r.status_code for r in responses]
    assert statuses.count(200) == 30, statuses
    assert statuses.count(429) == 15
    limited = next(r for r in responses if r.status_code == 429)
    problem(limited, 429, "rate_limited")
    assert int(limited.headers["retry-after"]) >= 1
    assert limited.headers["x-ratelimit-remaining"] == "0"
    ok = next(r for r in responses if r.status_code == 200)
    for header in ("ratelimit-policy", "ratelimit", "x-ratelimit-limit", "x-ratelimit-reset"):
        assert header in ok.headers, header
    assert ok.headers["x-ratelimit-limit"] == "30"


async def test_forwarded_for_does_not_pick_a_new_bucket(new_client) -> None:
    client = new_client()
    statuses = []
    for i in range(35):
        response = await client.get("/.well-known/jwks.json",
                                    headers={"X-Forwarded-For": f"198.51.100.{i}"})
        statuses.append(response.status_code)
    assert statuses.count(200) == 30
    assert statuses[-1] == 429


async def test_each_client_ip_has_its_own_bucket(new_client) -> None:
    flooder, neighbour = new_client(), new_client()
    await asyncio.gather(*(flooder.get("/.well-known/jwks.json") for _ in range(35)))
    assert (await flooder.get("/.well-known/jwks.json")).status_code == 429
    assert (await neighbour.get("/.well-known/jwks.json")).status_code == 200


async def test_health_probes_are_exempt(new_client) -> None:
    client: httpx.AsyncClient = new_client()
    statuses = [(await client.get("/health/live")).status_code for _ in range(40)]
    assert statuses == [200] * 40


async def test_login_has_its_own_stricter_default_bucket(new_client, problem) -> None:
    # Shipped with no configuration (natively and in compose, where RATE_LIMIT_ROUTES only
    # adds /restart-probe): 10 logins per 60 s per client IP, apart from the default bucket.
    client = new_client()
    # A new unknown e-mail and password each time: below every auth-service throttle counter
    # (per account, per password, and per IP: 20), so only the gateway can refuse.
    answers = [await client.post("/auth/login", json={
        "email": f"nobody-{uuid.uuid4().hex[:12]}@example.com",
        "password": f"not the password {uuid.uuid4().hex}"}) for _ in range(11)]
    # The first ten reached the auth service (unknown e-mail: 401).
    assert [r.status_code for r in answers] == [401] * 10 + [429]
    problem(answers[-1], 429, "rate_limited")
    assert answers[-1].headers["ratelimit-policy"] == '"/auth/login";q=10;w=60'
    assert int(answers[-1].headers["retry-after"]) >= 1
    other = await client.get("/.well-known/jwks.json")
    assert other.status_code == 200
    assert other.headers["x-ratelimit-remaining"] == "29"  # logins did not count there
