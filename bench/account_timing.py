"""A-forgot (issue 17): does `POST /auth/password/forgot` take as long for an address with an
account as for one without? A difference an attacker can time is an enumeration oracle.

Known addresses are registered first, one account per request measured: a second ask for one
address within the mail cooldown sends nothing, which would turn the known case into the
unknown one. Then known and unknown asks alternate, one at a time on a quiet stack, through
the gateway, each from its own client address (trusted `X-Forwarded-For`), so neither the
gateway's limit nor the per-IP mail limit takes part. Reported: the median of each kind and
their difference relative to the unknown median (target: under 10 %), over >= 50 of each.
The e2e test (tests/e2e/security/test_account_enumeration.py) holds only a generous bound."""

from __future__ import annotations

import asyncio
import secrets
import statistics
import sys
import time
from typing import Any

import aiohttp

_PASSWORD = f"bench-forgot-{secrets.token_urlsafe(12)}"
# A known ask queues a mail that the auth service's sender delivers right after answering;
# without a pause that delivery lands in the *next* ask (an unknown one, every other time)
# and is measured as its cost. Each ask is to find the stack quiet.
_SETTLE_SECONDS = 0.25
TARGET_RELATIVE_DIFFERENCE = 0.10


def _client_address(i: int) -> str:
    return f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"


async def _register(session: aiohttp.ClientSession, auth: str, count: int) -> list[str]:
    emails = [f"forgot-{secrets.token_hex(6)}@example.com" for _ in range(count)]
    for email in emails:
        async with session.post(f"{auth}/auth/register",
                                json={"email": email, "password": _PASSWORD}) as response:
            if response.status not in (201, 202):
                raise RuntimeError(f"register: {response.status} {await response.text()}")
    return emails


async def _ask(session: aiohttp.ClientSession, gateway: str, email: str,
               client: str) -> tuple[float, int, str]:
    began = time.perf_counter()
    async with session.post(f"{gateway}/auth/password/forgot", json={"email": email},
                            headers={"X-Forwarded-For": client}) as response:
        body = await response.text()
    return time.perf_counter() - began, response.status, body


async def _trials(gateway: str, auth: str, count: int, warmup: int) -> dict[str, Any]:
    samples: dict[str, list[float]] = {"known": [], "unknown": []}
    statuses: dict[str, dict[int, int]] = {"known": {}, "unknown": {}}
    bodies: dict[str, set[str]] = {"known": set(), "unknown": set()}
    async with aiohttp.ClientSession() as session:
        known = await _register(session, auth, count + warmup)
        # Let the registrations' verification mails drain, so their sending is not
        # measured as part of either kind.
        await asyncio.sleep(2)
        for i in range(2 * (count + warmup)):
            kind = "unknown" if i % 2 == 0 else "known"
            email = (known[i // 2] if kind == "known"
                     else f"nobody-{secrets.token_hex(6)}@example.com")
            await asyncio.sleep(_SETTLE_SECONDS)
            seconds, status, body = await _ask(session, gateway, email, _client_address(i))
            if i < 2 * warmup:
                continue
            samples[kind].append(seconds)
            statuses[kind][status] = statuses[kind].get(status, 0) + 1
            bodies[kind].add(body)
    return _summary(samples, statuses, bodies)


def _summary(samples: dict[str, list[float]], statuses: dict[str, dict[int, int]],
             bodies: dict[str, set[str]]) -> dict[str, Any]:
    median = {k: statistics.median(v) for k, v in samples.items()}
    difference = median["known"] - median["unknown"]
    relative = abs(difference) / median["unknown"]
    return {
        "requests_per_kind": len(samples["known"]),
        "median_known_ms": round(median["known"] * 1000, 3),
        "median_unknown_ms": round(median["unknown"] * 1000, 3),
        "difference_ms": round(difference * 1000, 3),
        "relative_difference": round(relative, 4),
        "target": TARGET_RELATIVE_DIFFERENCE,
        "verdict": "met" if relative < TARGET_RELATIVE_DIFFERENCE else "missed",
        "statuses": statuses,
        "same_body": bodies["known"] == bodies["unknown"] and len(bodies["known"]) == 1,
    }


def measure(urls: dict[str, str], count: int, warmup: int = 5) -> dict[str, Any]:
    """A-forgot over `count` asks of each kind (after `warmup` of each, not counted)."""
    return asyncio.run(_trials(urls["gateway"], urls["auth"], count, warmup))


def markdown(result: dict[str, Any]) -> list[str]:
    return ["", "A-forgot (bench/account_timing.py): `POST /auth/password/forgot`, known vs "
                "unknown address, interleaved, one at a time (target: medians differ < 10 %)",
            "", "| per kind | median known ms | median unknown ms | difference ms | "
                "difference / unknown | verdict | statuses | same body |",
            "|---|---|---|---|---|---|---|---|",
            f"| {result['requests_per_kind']} | {result['median_known_ms']} | "
            f"{result['median_unknown_ms']} | {result['difference_ms']:+} | "
            f"{result['relative_difference']:.1%} | {result['verdict']} | "
            f"{result['statuses']} | {result['same_body']} |"]


if __name__ == "__main__":  # against a running stack whose gateway trusts 127.0.0.1
    import json

    gateway_url, auth_url, *rest = sys.argv[1:]
    print(json.dumps(measure({"gateway": gateway_url, "auth": auth_url},
                             int(rest[0]) if rest else 100), indent=2))
