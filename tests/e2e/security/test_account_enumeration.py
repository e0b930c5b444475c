"""The unauthenticated mail endpoints tell nothing about which addresses have accounts:
the same status, body and content type for known and unknown addresses. Their timing is
the benchmark's to measure (A-forgot, bench/account_timing.py: medians within 10 %), not a
test's: a verdict from a stopwatch depends on how busy the machine is."""

import uuid
from collections import Counter
from typing import Any

PASSWORD = "a perfectly fine passphrase 9"
ROUNDS = 10  # per kind, interleaved


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
    answers: dict[str, set[str]] = {"known": set(), "unknown": set()}
    statuses: Counter[tuple[str, int]] = Counter()
    for i in range(2 * ROUNDS):
        kind = "unknown" if i % 2 == 0 else "known"
        email = (f"nobody-{uuid.uuid4().hex[:12]}@example.com" if kind == "unknown"
                 else known[i // 2])
        client = client_for()  # its own address: no rate limit involved
        response = await client.post("/auth/password/forgot", json={"email": email})
        statuses[(kind, response.status_code)] += 1
        answers[kind].add(response.text + response.headers["content-type"])
    assert statuses == {("unknown", 202): ROUNDS, ("known", 202): ROUNDS}
    assert answers["known"] == answers["unknown"]
    assert len(answers["known"]) == 1
