"""Several workers on 2,000 commands over 200 orders: every version processed exactly once, in order,
with gapless versions and unique VersionTags."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from redis import Redis
from rq import Queue, Worker
from rq.job import Job
from rq.registry import FinishedJobRegistry
from rq.serializers import JSONSerializer

from orderledger.infrastructure.queue import PROJECT_PENDING

from tests.conftest import unique
from tests.e2e.helpers import wait_until
from tests.faults.ledger import Commands, wait_until_processed

pytestmark = pytest.mark.faults

ORDERS, VERSIONS_PER_ORDER, WORKERS, SENDERS = 200, 10, 3, 4
# Small batches: more orders waiting than a batch holds is what brings another worker in, and this
# test is about several workers processing the same orders at once.
PROJECTION_BATCH = "8"
BACKLOG = 400  # commands sent before the workers start
DRAIN_BOUND_SECONDS = 60.0


def send(commands: Commands, order_ids: list[str]) -> None:
    """Create each order, then change its status again and again; each sender owns its orders."""
    with httpx.Client(timeout=30) as client:
        for order_id in order_ids:
            commands.create(client, order_id)
        for n in range(1, VERSIONS_PER_ORDER):
            for order_id in order_ids:
                commands.change_status(client, order_id, f"S{n}")


def test_several_workers_process_every_version_exactly_once(stack, settings, tenant):
    _, key = tenant
    base_url, _ = stack.api()
    commands = Commands(base_url, key)
    order_ids = [unique("order") for _ in range(ORDERS)]
    senders = [threading.Thread(target=send, args=(commands, order_ids[i::SENDERS])) for i in range(SENDERS)]
    started = time.monotonic()
    for sender in senders:
        sender.start()
    # The workers start once a backlog of many batches waits, as after a deployment or an outage:
    # each job that finds more than a batch waiting brings in another worker, while commands keep coming.
    wait_until(lambda: len(commands.jobs) >= BACKLOG, 60, "a backlog to build up", interval=0.05)
    workers = [stack.worker(ORDERLEDGER_PROJECTION_BATCH=PROJECTION_BATCH) for _ in range(WORKERS)]
    for sender in senders:
        sender.join()
    sent = time.monotonic() - started
    counted, drained = wait_until_processed(settings, commands.orders, DRAIN_BOUND_SECONDS)
    with Redis.from_url(settings.redis_url) as redis:
        queue = Queue(settings.queue_name, connection=redis, serializer=JSONSerializer)
        # Jobs end half a second after the last order they found; counted once every worker is idle.
        wait_until(lambda: all(w.get_state() == "idle" for w in Worker.all(queue=queue)) and not queue.count, 30,
                   "the workers to finish their jobs", interval=0.1)
        by_worker = sorted(w.successful_job_count for w in Worker.all(queue=queue))
        # Each job returns how many versions it wrote: more than were committed would mean a version written twice.
        registry = FinishedJobRegistry(settings.queue_name, connection=redis, serializer=JSONSerializer)
        by_jobs = sum(job.return_value() or 0 for job in Job.fetch_many(registry.get_job_ids(), connection=redis,
                                                                       serializer=JSONSerializer)
                      if job and job.func_name == PROJECT_PENDING)

    print(f"\n{WORKERS} workers: {len(commands.jobs)} commands over {len(commands.orders)} orders sent in {sent:.1f}s "
          f"({len(commands.jobs) / sent:.0f}/s, {len(commands.failures)} refused); {counted.processed}/"
          f"{counted.committed} versions processed, drained {drained:.1f}s after the last command; "
          f"duplicates={counted.duplicates}, gaps={counted.gaps}, reordered={counted.reordered}, "
          f"tags={counted.tags} unique; jobs run per worker {by_worker}, versions written by jobs {by_jobs} "
          f"(the rest by the sweeper)")
    assert not commands.failures, commands.failures[:5]
    assert len(commands.jobs) == ORDERS * VERSIONS_PER_ORDER
    assert counted.exact and counted.committed == ORDERS * VERSIONS_PER_ORDER, counted
    assert len(by_worker) == WORKERS and min(by_worker) > 0, "every worker took part"
    assert by_jobs <= counted.committed
    assert all(w.poll() is None for w in workers)
