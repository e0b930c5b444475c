"""R-revoke (issue 16): how long a logged-out session's access token keeps working.

One trial: log in (at the auth service, so the gateway's login bucket does not pace the
trials), present the access token at the gateway once (verified, now in its verified-token
cache), log out (the auth service appends the session to the revocation log, WAIT for a
replica, then answers 204), and from the 204 on ask the gateway and the user service
with that token back to back until each answers 401 `token_revoked`. The latency is the
time from the 204 to that first 401; a trial whose token is still accepted after
`timeout` seconds counts as missed. Trials run one after the other on a quiet stack, so
the figure is the feed's push latency (one XREAD BLOCK reply), not queueing.

The W1 requests of the core group keep their one Redis round trip: the feed has its own
connection and a token check is in-memory lookups only (docs/revocation.md)."""

from __future__ import annotations

import asyncio
import secrets
import sys
import time
from typing import Any

import aiohttp

_PASSWORD = f"bench-revoke-{secrets.token_urlsafe(12)}"


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _summary(samples: list[float], missed: int) -> dict[str, Any]:
    ms = [s * 1000 for s in samples]
    return {"trials": len(samples) + missed, "missed": missed,
            **{f"p{int(q * 100)}_ms": (round(v, 2) if (v := _percentile(ms, q)) is not None
                                       else None)
               for q in (0.5, 0.9, 0.99)},
            "max_ms": round(max(ms), 2) if ms else None}


async def _until_revoked(session: aiohttp.ClientSession, url: str, token: str,
                         since: float, give_up_after: float) -> float | None:
    headers = {"Authorization": f"Bearer {token}"}
    while time.perf_counter() - since < give_up_after:
        async with session.get(f"{url}/users/me", headers=headers) as response:
            if response.status == 401:
                body = await response.json()
                if body.get("code") == "token_revoked":
                    return time.perf_counter() - since
            else:
                await response.read()
    return None


async def _trials(auth: str, gateway: str, direct: str, count: int,
                  give_up_after: float) -> dict[str, Any]:
    email = f"revoke-{secrets.token_hex(6)}@example.com"
    samples: dict[str, list[float]] = {"gateway": [], "user_service": []}
    missed = {"gateway": 0, "user_service": 0}
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{auth}/auth/register",
                                json={"email": email, "password": _PASSWORD}) as response:
            if response.status != 201:
                raise RuntimeError(f"register: {response.status} {await response.text()}")
        for trial in range(count):
            async with session.post(f"{auth}/auth/login",
                                    json={"email": email, "password": _PASSWORD}) as response:
                tokens = await response.json()
            access = tokens["access_token"]
            bearer = {"Authorization": f"Bearer {access}"}
            async with session.get(f"{gateway}/users/me", headers=bearer) as response:
                assert response.status == 200, await response.text()
            async with session.post(f"{auth}/auth/logout", headers=bearer,
                                    json={"refresh_token": tokens["refresh_token"]}) as response:
                assert response.status == 204, await response.text()
                since = time.perf_counter()
            results = await asyncio.gather(
                _until_revoked(session, gateway, access, since, give_up_after),
                _until_revoked(session, direct, access, since, give_up_after))
            for name, result in zip(("gateway", "user_service"), results, strict=True):
                if result is None:
                    missed[name] += 1
                else:
                    samples[name].append(result)
            if (trial + 1) % 50 == 0:
                print(f"bench: revocation trial {trial + 1}/{count}", file=sys.stderr)
    return {name: _summary(samples[name], missed[name]) for name in samples}


def measure(urls: dict[str, str], trials: int, timeout: float = 5.0) -> dict[str, Any]:
    """R-revoke over `trials` logouts: p50/p90/p99/max in ms at the gateway and the user
    service (bench/README: the issue-16 target is p99 <= 1000 ms)."""
    return asyncio.run(_trials(urls["auth"], urls["gateway"], urls["direct"], trials, timeout))


def markdown(result: dict[str, Any]) -> list[str]:
    rows = ["", "R-revoke (bench/revocation.py): logout's 204 to the first 401 token_revoked "
                "(target p99 <= 1000 ms)", "",
            "| verifier | trials | missed | p50 ms | p90 ms | p99 ms | max ms |",
            "|---|---|---|---|---|---|---|"]
    for name, cell in result.items():
        rows.append(f"| {name} | {cell['trials']} | {cell['missed']} | {cell['p50_ms']} | "
                    f"{cell['p90_ms']} | {cell['p99_ms']} | {cell['max_ms']} |")
    return rows


if __name__ == "__main__":  # against a running stack: gateway, auth and user-service URLs
    import json

    gateway_url, auth_url, user_url, *rest = sys.argv[1:]
    print(json.dumps(measure({"gateway": gateway_url, "auth": auth_url, "direct": user_url},
                             int(rest[0]) if rest else 200), indent=2))
