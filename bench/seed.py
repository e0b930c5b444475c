"""Users and tokens for the scenarios, created through the auth service's public API.

W1 users register and log in on a seeding auth instance with cheap argon2 parameters (the
hash cost is irrelevant to W1, which only presents tokens). W3 users register on the main
auth instance, so their stored hashes have the default OWASP parameters and every login of
the storm verifies at full cost without triggering a rehash.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import aiohttp


async def _bounded(concurrency: int, jobs: list[Coroutine[Any, Any, str]]) -> list[str]:
    semaphore = asyncio.Semaphore(concurrency)

    async def run(job: Coroutine[Any, Any, str]) -> str:
        async with semaphore:
            return await job

    return await asyncio.gather(*(run(job) for job in jobs))


async def _register_and_login(session: aiohttp.ClientSession, base: str, email: str,
                              password: str, ip: str, login: bool) -> str:
    headers = {"X-Forwarded-For": ip}
    body = {"email": email, "password": password}
    for attempt in range(5):
        async with session.post(f"{base}/auth/register", json=body, headers=headers) as resp:
            if resp.status in (201, 409):
                break
            text = await resp.text()
        if attempt == 4:
            raise RuntimeError(f"register {email}: {resp.status} {text[:200]}")
        await asyncio.sleep(0.5)
    if not login:
        return ""
    async with session.post(f"{base}/auth/login", json=body, headers=headers) as resp:
        if resp.status != 200:
            raise RuntimeError(f"login {email}: {resp.status} {(await resp.text())[:200]}")
        return str((await resp.json())["access_token"])


async def _create(base: str, prefix: str, count: int, concurrency: int,
                  login: bool) -> list[tuple[str, str, str]]:
    run_id = secrets.token_hex(4)
    password = f"bench-{secrets.token_urlsafe(12)}"
    users = [(f"{prefix}-{run_id}-{i}@example.com", password) for i in range(count)]
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        jobs = [_register_and_login(session, base, email, pw, f"192.168.{i // 250}.{i % 250 + 1}",
                                    login)
                for i, (email, pw) in enumerate(users)]
        tokens = await _bounded(concurrency, jobs)
    return [(email, pw, str(token)) for (email, pw), token in zip(users, tokens, strict=True)]


def seed_tokens(auth_url: str, count: int, concurrency: int, path: Path) -> int:
    """Register + log in `count` users; write one access token per line to `path`."""
    users = asyncio.run(_create(auth_url, "w1", count, concurrency, login=True))
    path.write_text("".join(f"{token}\n" for _, _, token in users))
    return len(users)


def seed_login_users(auth_url: str, count: int, concurrency: int, path: Path) -> int:
    """Register `count` users (default argon2 parameters); write "email password" lines."""
    users = asyncio.run(_create(auth_url, "w3", count, concurrency, login=False))
    path.write_text("".join(f"{email} {pw}\n" for email, pw, _ in users))
    return len(users)
