"""Persistence across a stop/start of the whole compose stack (infra/ci/test-compose.sh,
restart phase); the compose counterpart of tests/e2e/faults/test_stack_restart.py.

    python -m devstack.compose_restart save GATEWAY_URL STATE_FILE   # before the stop
    python -m devstack.compose_restart check GATEWAY_URL STATE_FILE  # after the start

`save` registers and logs in a user and exhausts one client IP's default rate-limit bucket;
`check` asserts that the old refresh token still refreshes (Redis AOF volumes, the cluster
re-formed by its job at the containers' new addresses), the old access token still reads the
profile (signing keys), the user still logs in (PostgreSQL volume), and, when the restart took
less than the limit window, that the exhausted IP is still limited (rate-limit state in Redis).
Both run inside the gateway container's network namespace, like the e2e tests (per-client
source addresses in 127.0.0.0/8). Exit status 0 when everything held."""

from __future__ import annotations

import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

PASSWORD = "correct horse battery staple 42"  # noqa: S105 - a throwaway test user
USER_IP, LIMITED_IP, LOGIN_IP = "127.250.0.1", "127.250.0.2", "127.250.0.3"
PROBE_PATH = "/restart-probe"  # no upstream serves it: a cheap 404, or 429 when limited
WINDOW_SECONDS = 60  # the gateway's default RATE_LIMIT_WINDOW_SECONDS (compose sets none)


def _client(url: str, ip: str) -> httpx.Client:
    return httpx.Client(base_url=url, timeout=15,
                        transport=httpx.HTTPTransport(local_address=ip))


def save(url: str, state_file: Path) -> None:
    # After the fault phase the gateway may still be on its fallback (in-process) limiter,
    # whose buckets are not in Redis and would not be expected to survive.
    try:
        _limiter_on_redis(url, within=15)
        on_redis = True
    except AssertionError:
        on_redis = False
    email = f"restart-{uuid.uuid4().hex[:12]}@example.com"
    with _client(url, USER_IP) as client:
        created = client.post("/auth/register", json={"email": email, "password": PASSWORD})
        assert created.status_code == 201, created.text
        login = client.post("/auth/login", json={"email": email, "password": PASSWORD})
        assert login.status_code == 200, login.text
    with _client(url, LIMITED_IP) as client:
        statuses = [client.get(PROBE_PATH).status_code for _ in range(200)]
        limited_at = time.time()
    assert 429 in statuses, f"default bucket never ran out: {set(statuses)}"
    on_redis = on_redis and _limiter_mode(url) == "redis"
    state = {"email": email, "tokens": login.json(), "limited_at": limited_at,
             "limited_on_redis": on_redis,
             "allowed_before_429": statuses.index(429)}
    state_file.write_text(json.dumps(state))
    # appendfsync everysec: give the last writes a second to reach the AOF (a stop flushes
    # it anyway; this keeps the check meaningful if the engine has to SIGKILL a node).
    time.sleep(1.5)
    print(f"compose restart: saved user {email}; IP {LIMITED_IP} limited after "
          f"{state['allowed_before_429']} requests"
          + ("" if on_redis else " by the gateway's FALLBACK limiter (not in Redis)"))


def _limiter_mode(url: str) -> str:
    """'redis' or 'fallback', as the gateway's readiness details say."""
    ready = httpx.get(f"{url}/health/ready", timeout=5)
    return str(ready.json().get("checks", {}).get("ratelimit"))


def _limiter_on_redis(url: str, within: float = 60.0) -> float:
    """Seconds until the gateway limits with Redis again: a gateway that starts before the
    cluster job has re-formed the cluster serves with its in-process fallback meanwhile
    (by design), and that fallback knows nothing of the buckets stored in Redis."""
    began = time.monotonic()
    while time.monotonic() - began < within:
        if _limiter_mode(url) == "redis":
            return time.monotonic() - began
        time.sleep(0.2)
    raise AssertionError(f"the gateway did not limit with Redis again within {within:.0f}s")


def check(url: str, state_file: Path) -> int:
    state: dict[str, Any] = json.loads(state_file.read_text())
    waited = _limiter_on_redis(url)
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
    elapsed = time.time() - state["limited_at"]
    with _client(url, LIMITED_IP) as client:
        still = client.get(PROBE_PATH)
    if not state["limited_on_redis"]:
        note = (" (rate-limit state not checked: the gateway was on its fallback limiter "
                "when the bucket ran out, so it was never in Redis)")
    elif elapsed < WINDOW_SECONDS - 5:
        results["exhausted IP still limited"] = (still.status_code, 429)
        note = ""
    else:
        note = (f" (rate-limit state not checked: {elapsed:.0f}s since the bucket ran out, "
                f"the window is {WINDOW_SECONDS}s)")
    failed = {what: got for what, (got, want) in results.items() if got != want}
    summary = ", ".join(f"{what} -> {got}" for what, (got, _) in results.items())
    print(f"compose restart: gateway back on Redis after {waited:.1f}s; {summary}{note}")
    if failed:
        print(f"compose restart: FAILED: {failed}; refresh said {refreshed.text[:200]}",
              file=sys.stderr)
        return 1
    return 0


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[0] not in ("save", "check"):
        print(__doc__, file=sys.stderr)
        return 2
    command, url, state_file = argv[0], argv[1].rstrip("/"), Path(argv[2])
    if command == "save":
        save(url, state_file)
        return 0
    return check(url, state_file)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
