"""Redis stops while commands arrive and starts again: commands keep answering 202, workers live
through it, and every version is processed."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import datetime, timezone

import httpx
import pytest
from redis import Redis
from rq import Queue, Worker
from rq.job import Job
from rq.registry import FinishedJobRegistry
from rq.serializers import JSONSerializer

from orderledger.infrastructure.embedded import free_port, start_valkey
from orderledger.infrastructure.queue import PROJECT_PENDING
from tests.conftest import unique
from tests.e2e.helpers import wait_until
from tests.faults.ledger import Commands, wait_until_processed
from tests.faults.stack import Stack

pytestmark = pytest.mark.faults

ORDERS_BEFORE, ORDERS_DURING, ORDERS_AFTER = 10, 6, 10
# Processed after Redis returns within this bound: the sweeper needs no Redis (2-4 s), and RQ
# reconnects within its 5 s backoff cap.
RECOVERY_BOUND_SECONDS = 20.0


@pytest.fixture
def private_redis(tmp_path):
    """A Redis of this test's own that it may stop and start again on the same port, with its data."""
    port = free_port()
    servers = [start_valkey(tmp_path / "redis", port=port, persist=True)]

    class Control:
        url = servers[0].url

        def stop(self) -> None:
            servers[-1].stop()

        def start(self) -> None:
            servers.append(start_valkey(tmp_path / "redis", port=port, persist=True))

    try:
        yield Control()
    finally:
        servers[-1].stop()


def send(commands: Commands, order_ids: list[str]) -> None:
    with httpx.Client(timeout=30) as client:
        for order_id in order_ids:
            commands.create(client, order_id)
            commands.change_status(client, order_id, "Confirmed")


def rq_finished_a_projection_job_since(redis: Redis, queue_name: str, since: datetime) -> bool:
    """Whether a worker ran, through RQ, a project_pending job enqueued after `since`."""
    registry = FinishedJobRegistry(queue_name, connection=redis, serializer=JSONSerializer)
    jobs = Job.fetch_many(registry.get_job_ids(), connection=redis, serializer=JSONSerializer)
    return any(job is not None and job.func_name == PROJECT_PENDING and job.enqueued_at is not None
               and job.enqueued_at.replace(tzinfo=job.enqueued_at.tzinfo or timezone.utc) >= since for job in jobs)


def test_commands_during_a_redis_outage_are_answered_and_processed(settings, tenant, private_redis, tmp_path):
    _, key = tenant
    settings = replace(settings, redis_url=private_redis.url)
    stack = Stack(settings, tmp_path, env={"ORDERLEDGER_FAULT_INJECTION": "1"})
    try:
        workers = [stack.worker(), stack.worker()]
        base_url, _ = stack.api()
        before, during, after = (Commands(base_url, key) for _ in range(3))

        send(before, [unique("order") for _ in range(ORDERS_BEFORE)])
        wait_until_processed(settings, before.orders, RECOVERY_BOUND_SECONDS)

        private_redis.stop()
        workers.append(stack.worker())  # a worker that starts while Redis is away waits for it
        send(during, [unique("order") for _ in range(ORDERS_DURING)])
        # The sweeper needs only PostgreSQL: the outage's commands are processed while Redis is still down.
        _, swept_in_outage = wait_until_processed(settings, during.orders, RECOVERY_BOUND_SECONDS)
        with httpx.Client(base_url=base_url, timeout=30) as client:
            status_in_outage = client.get(f"/api/v3/orders/jobs/{during.jobs[-1]}", headers={"apikey": key})
        assert all(w.poll() is None for w in workers), "a worker died with Redis"

        private_redis.start()
        back, back_at = time.monotonic(), datetime.now(timezone.utc)
        send(after, [unique("order") for _ in range(ORDERS_AFTER)])
        counted, _ = wait_until_processed(settings, before.orders | during.orders | after.orders, RECOVERY_BOUND_SECONDS)
        recovered = time.monotonic() - back
        # And RQ itself works again: the workers reconnected and ran the jobs enqueued after the return.
        with Redis.from_url(settings.redis_url) as redis:
            wait_until(lambda: rq_finished_a_projection_job_since(redis, settings.queue_name, back_at),
                       RECOVERY_BOUND_SECONDS, "RQ to run a job enqueued after Redis returned", interval=0.1)
            rq_back = time.monotonic() - back
            wait_until(lambda: Worker.count(queue=Queue(settings.queue_name, connection=redis)) == len(workers),
                       RECOVERY_BOUND_SECONDS, "every worker to be registered with RQ again", interval=0.1)
        alive = [w.poll() is None for w in workers]
        exits = stack.stop_all()
    finally:
        stack.stop_all()

    outage_latency = max(during.latencies)
    print(f"\nredis outage: {len(before.jobs)}+{len(during.jobs)}+{len(after.jobs)} commands (before+during+after; "
          f"{len(during.failures) + len(before.failures) + len(after.failures)} refused), slowest answer during the "
          f"outage {outage_latency:.2f}s; outage's versions processed {swept_in_outage:.2f}s after their commands, "
          f"Redis still down; all {counted.processed}/{counted.committed} versions processed {recovered:.2f}s after "
          f"Redis returned (bound {RECOVERY_BOUND_SECONDS:.0f}s), RQ running jobs again after {rq_back:.2f}s; "
          f"duplicates={counted.duplicates}; workers alive {alive}")
    assert not (before.failures or during.failures or after.failures)
    assert len(during.jobs) == 2 * ORDERS_DURING
    assert status_in_outage.status_code == 200 and status_in_outage.json()["status"] == "Completed"
    assert counted.exact and counted.committed == len(before.jobs) + len(during.jobs) + len(after.jobs), counted
    assert alive == [True] * 3 and all(exits[w.pid] == 0 for w in workers), stack.log_text()
