"""RedisStore's wait budget: one per request, shared by all of the request's Redis calls,
spent on retries while no master answers; verdicts on how many tries were made, not on
how long anything took."""

import pytest

from auth_service.errors import StoreUnavailable
from auth_service.redis_store import RedisStore
from auth_service.request_deadline import RequestDeadlineMiddleware
from shared.redis import ClusterUnavailable, ReplyError, create_cluster_client


def _store(wait_budget: float = 60.0) -> RedisStore:
    # Never reached: every call below is a callable of the test's.
    return RedisStore(create_cluster_client("127.0.0.1:1"), call_budget=1.0,
                      wait_budget=wait_budget, ack_timeout_ms=100)


class Unavailable:
    """A Redis call that finds no master, `fails` times (forever by default)."""

    def __init__(self, fails: int = 10**9) -> None:
        self.tries = 0
        self.fails = fails

    async def __call__(self) -> str:
        self.tries += 1
        if self.tries <= self.fails:
            raise ClusterUnavailable("slot has no master")
        return "ok"


async def test_a_call_is_retried_until_a_master_answers() -> None:
    call = Unavailable(fails=3)
    assert await _store().run(call, what="test") == "ok"
    assert call.tries == 4


async def test_a_requests_calls_share_one_budget() -> None:
    store = _store()
    first, second = Unavailable(), Unavailable()
    outcomes: list[str] = []

    async def app(scope: object, receive: object, send: object) -> None:
        for call in (first, second):
            try:
                await store.run(call, what="test")
            except StoreUnavailable:
                outcomes.append("unavailable")

    # The request's 0.3 s go to the first call's retries; the second finds them spent.
    await RequestDeadlineMiddleware(app, seconds=0.3)({"type": "http"}, None, None)  # type: ignore[arg-type]
    assert outcomes == ["unavailable", "unavailable"]
    assert first.tries >= 2
    assert second.tries == 0


async def test_outside_a_request_the_store_budget_applies() -> None:
    call = Unavailable()
    with pytest.raises(StoreUnavailable):
        await _store(wait_budget=0.2).run(call, what="test")
    assert call.tries >= 2


async def test_an_error_about_the_command_itself_is_not_retried() -> None:
    tries = 0

    async def script_bug() -> None:
        nonlocal tries
        tries += 1
        raise ReplyError("ERR user_script:1: Script attempted to access nonexistent global")

    with pytest.raises(ReplyError):
        await _store().run(script_bug, what="test")
    assert tries == 1
