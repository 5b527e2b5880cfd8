"""Asking the RQ workers for work, by dotted name: the API never imports worker code.

The fast path coalesces. A committed command adds its order to a Redis set of
orders waiting to be processed, rings a doorbell (a one-item list), and
enqueues one `project_pending` job only if no job is on its way or looking at
the set (a short-lived mark, kept fresh by the job, says one is). That job
takes the waiting orders from the set in bulk, and waits on the doorbell for
more for a moment before it ends, so under a steady stream one job serves many
commands with no RQ round trip between them: RQ's own cost (some fifty Redis
commands per job) would otherwise cap processing below ingest and add its
latency to every command. Nothing depends on the set for safety: every
committed version is also found by the sweeper from the event store.

An order whose processing fails gets a job of its own (`project_order`, job
id = our jobId of its latest version) with RQ's retries and failure record.
Jobs get primitive arguments only and are serialised as JSON.
"""

from __future__ import annotations

import logging
import uuid
from uuid import UUID

from redis import Redis
from redis.exceptions import RedisError
from rq import Callback, Queue, Retry
from rq.serializers import JSONSerializer

from orderledger.domain.ids import job_id

log = logging.getLogger("orderledger.queue")

PROJECT_ORDER = "workers.jobs.project_order"
PROJECT_PENDING = "workers.jobs.project_pending"
# Called by RQ after each failed attempt; records the last one in PostgreSQL (job status outlives RQ's record).
ON_PROJECTION_FAILURE = "workers.failures.on_projection_failure"

# A failing order is retried with growing pauses, then marked Failed; others flow past it.
PROJECTION_RETRY_INTERVALS = [1, 3, 10, 30, 60]
# How long RQ keeps a job's own record; after that the ledger alone answers job status.
RESULT_TTL_SECONDS = 24 * 3600
FAILURE_TTL_SECONDS = 7 * 24 * 3600


# How long the "a project_pending job is on its way or looking" mark lasts unless that job refreshes it
# (its enqueue failed, its worker died): then the next command enqueues another. Meanwhile the sweeper covers.
PENDING_MARK_MS = 2000
# A failed project_pending (the database went away) is tried again after these pauses, orders put back.
PENDING_RETRY_INTERVALS = [1, 2, 5, 10, 30]


def order_queue(redis: Redis, name: str) -> Queue:
    return Queue(name, connection=redis, serializer=JSONSerializer)


def pending_orders_key(queue_name: str) -> str:
    """The Redis set of orders with committed versions waiting for a project_pending job."""
    return f"orderledger:{queue_name}:pending-orders"


def pending_mark_key(queue_name: str) -> str:
    return f"orderledger:{queue_name}:pending-orders:job"


def pending_doorbell_key(queue_name: str) -> str:
    """A list of at most one item: pushed with every request, popped (blocking) by a job waiting for more."""
    return f"orderledger:{queue_name}:pending-orders:bell"


def pending_member(tenant_id: UUID | str, aggregate_id: UUID | str) -> str:
    return f"{tenant_id}:{aggregate_id}"


def parse_pending_member(member: bytes | str) -> tuple[str, UUID]:
    tenant, _, aggregate = (member.decode() if isinstance(member, bytes) else member).partition(":")
    return tenant, UUID(aggregate)


def request_projection(queue: Queue, orders: list[tuple[UUID, UUID]]) -> bool:
    """Ask the workers to process these (tenant, order)s up to their latest versions. False if Redis refused.

    One round trip, plus an enqueue when no project_pending job is on its way.
    A False is not a lost command: the events are committed, and the sweeper
    finds every committed but unprocessed version.
    """
    if not orders:
        return True
    redis: Redis = queue.connection
    try:
        with redis.pipeline(transaction=False) as pipe:
            pipe.sadd(pending_orders_key(queue.name), *(pending_member(t, a) for t, a in orders))
            pipe.lpush(pending_doorbell_key(queue.name), 1)
            pipe.ltrim(pending_doorbell_key(queue.name), 0, 0)
            pipe.set(pending_mark_key(queue.name), 1, nx=True, px=PENDING_MARK_MS)
            *_, marked = pipe.execute()
        if marked:
            enqueue_pending_job(queue)
    except RedisError as error:
        log.warning("projection request for %d order(s) failed (%s); the sweeper will process them", len(orders), error)
        return False
    return True


def enqueue_pending_job(queue: Queue) -> None:
    queue.enqueue(
        PROJECT_PENDING,
        job_id=f"pending-{uuid.uuid4().hex}",
        retry=Retry(max=len(PENDING_RETRY_INTERVALS), interval=PENDING_RETRY_INTERVALS),
        result_ttl=600,  # nobody asks for these: job status is per version, from the ledger
        failure_ttl=FAILURE_TTL_SECONDS,
    )


def enqueue_projection(queue: Queue, tenant_id: UUID, aggregate_id: UUID, version: int) -> bool:
    """A job of the order's own, with retries, to process it up to `version`. False if Redis could not take it.

    For an order whose processing failed (and for `orderledger jobs retry`).

    A False is not a lost command: the events are committed, and the sweeper
    finds every committed but unprocessed version.
    """
    try:
        queue.enqueue(
            PROJECT_ORDER,
            str(tenant_id),
            str(aggregate_id),
            job_id=job_id(aggregate_id, version),
            retry=Retry(max=len(PROJECTION_RETRY_INTERVALS), interval=PROJECTION_RETRY_INTERVALS),
            result_ttl=RESULT_TTL_SECONDS,
            failure_ttl=FAILURE_TTL_SECONDS,
            on_failure=Callback(ON_PROJECTION_FAILURE),
        )
    except RedisError as error:
        log.warning("enqueue of %s v%s failed (%s); the sweeper will process it", aggregate_id, version, error)
        return False
    return True
