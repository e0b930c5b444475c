"""The unauthenticated mail endpoints tell nothing about which addresses have accounts:
the same status, body and content type for known and unknown addresses, and timing alike
(reported; as pass/fail only a generous bound, as test_login_abuse.py does)."""

import statistics
import time
import uuid
from collections import Counter
from typing import Any

PASSWORD = "a perfectly fine passphrase 9"
ROUNDS = 50  # per kind, interleaved (the bench asks for >= 50 of each)


async def test_forgot_answers_alike_for_known_and_unknown_addresses(client_for: Any) -> None:
    # One account per known try: a second ask for one address within the cooldown sends
    # nothing, which would make the known case the unknown one.
    known = []
    for _ in range(ROUNDS):
        email = f"forgot-{uuid.uuid4().hex[:12]}@example.com"
        created = await client_for().post("/auth/register",
                                          json={"email": email, "password": PASSWORD})
        assert created.status_code == 201, created.text
        known.append(email)
    timings: dict[str, list[float]] = {"known": [], "unknown": []}
    answers: dict[str, set[str]] = {"known": set(), "unknown": set()}
    statuses: Counter[tuple[str, int]] = Counter()
    for i in range(2 * ROUNDS):
        kind = "unknown" if i % 2 == 0 else "known"
        email = (f"nobody-{uuid.uuid4().hex[:12]}@example.com" if kind == "unknown"
                 else known[i // 2])
        client = client_for()  # its own address: no rate limit involved
        began = time.monotonic()
        response = await client.post("/auth/password/forgot", json={"email": email})
        timings[kind].append(time.monotonic() - began)
        statuses[(kind, response.status_code)] += 1
        answers[kind].add(response.text + response.headers["content-type"])
    median = {k: statistics.median(v) for k, v in timings.items()}
    diff = median["unknown"] - median["known"]
    print(f"\n{2 * ROUNDS} interleaved forgot requests: {dict(statuses)}; median known "
          f"{median['known'] * 1000:.1f} ms, unknown {median['unknown'] * 1000:.1f} ms, "
          f"difference {diff * 1000:+.1f} ms ({diff / median['known']:+.1%})")
    assert statuses == {("unknown", 202): ROUNDS, ("known", 202): ROUNDS}
    assert answers["known"] == answers["unknown"]
    assert len(answers["known"]) == 1
    # Generous: both paths make the same calls (the lookup and two replica-acknowledged
    # writes); skipping the writes for unknown addresses would be far beyond this.
    assert abs(diff) < 0.5 * max(median.values())
