"""Persistence across a stop/start of the whole compose stack (infra/ci/test-compose.sh,
restart phase); the compose counterpart of tests/e2e/faults/test_stack_restart.py.

    python -m devstack.testkit.compose_restart save GATEWAY_URL STATE_FILE [READY_URL ...]
    python -m devstack.testkit.compose_restart check GATEWAY_URL STATE_FILE [READY_URL ...]

`save` runs before the stop, `check` after the start. GATEWAY_URL is where the clients go (the
load balancer); READY_URLs (default GATEWAY_URL) are each gateway behind it, every one of
which must limit with Redis before and after: through the balancer a readiness probe reaches
only one of them, and the buckets may be spent at either.

`save` registers and logs in a user and exhausts one client IP's bucket of PROBE_PATH (the
test sets `/restart-probe=5/3600` through GATEWAY_RATE_LIMIT_ROUTES, so the window outlasts
any restart); `check` asserts that the old refresh token still refreshes (Redis AOF volumes,
the cluster re-formed by its job at the containers' new addresses), the old access token
still reads the profile (signing keys), the user still logs in (PostgreSQL volume), and that
the exhausted IP is still limited (rate-limit state in Redis). `check` keeps the refreshed
pair in STATE_FILE, so it can run again after a further restart (the phase that restarts
only the six Redis containers).
Both run inside the load balancer container's network namespace, like the e2e tests
(per-client source addresses in 127.0.0.0/8). Exit status 0 when everything held."""

from __future__ import annotations

import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from devstack.testkit.traffic import limiter_mode_of

PASSWORD = "correct horse battery staple 42"  # noqa: S105 - a throwaway test user
USER_IP, LIMITED_IP, LOGIN_IP = "127.250.0.1", "127.250.0.2", "127.250.0.3"
PROBE_PATH = "/restart-probe"  # no upstream serves it: a cheap 404, or 429 when limited
PROBE_LIMIT = 5  # per hour, set by test-compose.sh (GATEWAY_RATE_LIMIT_ROUTES)


def _client(url: str, ip: str) -> httpx.Client:
    return httpx.Client(base_url=url, timeout=15,
                        transport=httpx.HTTPTransport(local_address=ip))


def save(url: str, state_file: Path, ready_urls: list[str]) -> None:
    # The bucket must be decided by Redis (the fallback limiter's buckets are per process
    # and would not survive): after the fault phase the gateways find the cluster again.
    _limiter_on_redis(ready_urls, within=30)
    email = f"restart-{uuid.uuid4().hex[:12]}@example.com"
    with _client(url, USER_IP) as client:
        created = client.post("/auth/register", json={"email": email, "password": PASSWORD})
        assert created.status_code == 201, created.text
        login = client.post("/auth/login", json={"email": email, "password": PASSWORD})
        assert login.status_code == 200, login.text
    with _client(url, LIMITED_IP) as client:
        statuses = [client.get(PROBE_PATH).status_code for _ in range(PROBE_LIMIT + 3)]
    assert statuses == [404] * PROBE_LIMIT + [429] * 3, statuses
    assert _limiter_modes(ready_urls) == {"redis"}, "the bucket ran out on the fallback limiter"
    state = {"email": email, "tokens": login.json()}
    state_file.write_text(json.dumps(state))
    # appendfsync everysec: give the last writes a second to reach the AOF (a stop flushes
    # it anyway; this keeps the check meaningful if the engine has to SIGKILL a node).
    time.sleep(1.5)
    print(f"compose restart: saved user {email}; IP {LIMITED_IP} limited after "
          f"{PROBE_LIMIT} requests (decided by Redis)")


def _limiter_modes(ready_urls: list[str]) -> set[str]:
    return {limiter_mode_of(httpx.get(f"{url}/health/ready", timeout=5)) for url in ready_urls}


def _limiter_on_redis(ready_urls: list[str], within: float = 60.0) -> float:
    """Seconds until every gateway limits with Redis again: a gateway that starts before the
    cluster job has re-formed the cluster serves with its in-process fallback meanwhile
    (by design), and that fallback knows nothing of the buckets stored in Redis."""
    began = time.monotonic()
    while time.monotonic() - began < within:
        if _limiter_modes(ready_urls) == {"redis"}:
            return time.monotonic() - began
        time.sleep(0.2)
    raise AssertionError(f"a gateway did not limit with Redis again within {within:.0f}s")


def check(url: str, state_file: Path, ready_urls: list[str]) -> int:
    state: dict[str, Any] = json.loads(state_file.read_text())
    waited = _limiter_on_redis(ready_urls)
    tokens = state["tokens"]
    results: dict[str, tuple[int, int]] = {}  # what: (status, expected)
    with _client(url, USER_IP) as client:
        refreshed = client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
        results["old refresh token"] = (refreshed.status_code, 200)
        me = client.get("/users/me",
                        headers={"Authorization": f"Bearer {tokens['access_token']}"})
        results["old access token (/users/me)"] = (me.status_code, 200)
        if me.status_code == 200 and me.json().get("email") != state["email"]:
            results["profile e-mail"] = (0, 200)
    with _client(url, LOGIN_IP) as client:
        login = client.post("/auth/login", json={"email": state["email"], "password": PASSWORD})
        results["login"] = (login.status_code, 200)
    with _client(url, LIMITED_IP) as client:
        results["exhausted IP still limited"] = (client.get(PROBE_PATH).status_code, 429)
    if refreshed.status_code == 200:  # the old pair is spent: a later check uses the new one
        state_file.write_text(json.dumps({**state, "tokens": refreshed.json()}))
    failed = {what: got for what, (got, want) in results.items() if got != want}
    summary = ", ".join(f"{what} -> {got}" for what, (got, _) in results.items())
    print(f"compose restart: gateways back on Redis after {waited:.1f}s; {summary}")
    if failed:
        print(f"compose restart: FAILED: {failed}; refresh said {refreshed.text[:200]}",
              file=sys.stderr)
        return 1
    return 0


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[0] not in ("save", "check"):
        print(__doc__, file=sys.stderr)
        return 2
    command, url, state_file = argv[0], argv[1].rstrip("/"), Path(argv[2])
    ready_urls = [ready.rstrip("/") for ready in argv[3:]] or [url]
    if command == "save":
        save(url, state_file, ready_urls)
        return 0
    return check(url, state_file, ready_urls)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
