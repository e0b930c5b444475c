"""The unauthenticated mail endpoints tell nothing about which addresses have accounts:
the same status, body and content type for known and unknown addresses, and the same work:
every ask, known or not, looks the address up in the user service (its log shows the
request id), so an unknown address does not take a shortcut. Their timing is the
benchmark's to measure (A-forgot, bench/account_timing.py: medians within 10 %), not a
test's: a verdict from a stopwatch depends on how busy the machine is."""

import uuid
from collections import Counter
from typing import Any

PASSWORD = "a perfectly fine passphrase 9"
ROUNDS = 10  # per kind, interleaved


async def test_forgot_answers_alike_for_known_and_unknown_addresses(sec_stack: Any,
                                                                    client_for: Any) -> None:
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
    request_ids: list[str] = []
    for i in range(2 * ROUNDS):
        kind = "unknown" if i % 2 == 0 else "known"
        email = (f"nobody-{uuid.uuid4().hex[:12]}@example.com" if kind == "unknown"
                 else known[i // 2])
        client = client_for()  # its own address: no rate limit involved
        response = await client.post("/auth/password/forgot", json={"email": email})
        statuses[(kind, response.status_code)] += 1
        request_ids.append(response.headers["x-request-id"])
        answers[kind].add(response.text + response.headers["content-type"])
    assert statuses == {("unknown", 202): ROUNDS, ("known", 202): ROUNDS}
    assert answers["known"] == answers["unknown"]
    assert len(answers["known"]) == 1
    looked_up = {line.get("request_id") for line in sec_stack.log_lines("user-service")}
    assert [rid for rid in request_ids if rid not in looked_up] == []
