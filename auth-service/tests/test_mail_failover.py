"""A queued mail is not lost when the master of the outbox's slot dies: an enqueue that
returned was acknowledged by a replica (WAIT), so the promoted replica has it; one made
while the master is gone waits (the store's retry path) for the promotion. Verdicts on
outcomes, not on how long it took."""

import asyncio
from typing import Any

import pytest

from auth_service.mail import OutboxKeys
from devstack.testkit.mail import CaptureSmtp

from .conftest import AppFactory, new_email
from .test_mail import mail_env

pytestmark = pytest.mark.fault


async def test_queued_mail_survives_the_loss_of_the_outboxs_master(
        auth_app_factory: AppFactory, redis_cluster_factory: Any,
        capture_smtp: CaptureSmtp) -> None:
    cluster = redis_cluster_factory()
    await asyncio.to_thread(cluster.wait_healthy, 60)  # replicas attached: one can take over
    # A budget no failover on a loaded machine outlasts: the verdict is the outcome.
    env = mail_env(capture_smtp, REDIS_WAIT_BUDGET_SECONDS=60.0,
                   **cluster.service_env("auth-service"))
    keys = OutboxKeys(env["MAIL_OUTBOX_STREAM"])
    before, during = new_email(), new_email()
    victim = await asyncio.to_thread(cluster.master_for_key, keys.stream)
    async with auth_app_factory(**env, MAIL_WORKER_ENABLED=False) as auth:
        await auth.resources.outbox.enqueue(to=before, template="test_message",
                                            context={"name": "Before"})
        await asyncio.to_thread(cluster.kill_node, victim)  # right after the acknowledgement
        try:
            await auth.resources.outbox.enqueue(to=during, template="test_message",
                                                context={"name": "During"})
            promoted = await asyncio.to_thread(cluster.wait_for_failover, victim, 60)
        finally:
            await asyncio.to_thread(cluster.start_node, victim)
            await asyncio.to_thread(cluster.wait_for_replica, victim, 60)
    assert promoted != victim
    async with auth_app_factory(**env):  # a sender, on the promoted master
        for to in (before, during):
            await asyncio.to_thread(capture_smtp.wait_for_mail, to)
    assert [len(capture_smtp.mail(to)) for to in (before, during)] == [1, 1]
