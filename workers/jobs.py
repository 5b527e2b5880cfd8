"""RQ jobs. Arguments are primitives (JSON serializer); each job is idempotent.

`project_pending` is the fast path: it takes the orders that commands added
to the pending set (orderledger.infrastructure.queue) and processes them in
bulk, until the set is empty. `project_order` is one order's job, with RQ's
retries and a failure record: for an order whose processing failed in bulk,
and for `orderledger jobs retry`.
"""

from __future__ import annotations

import logging
import time
from uuid import UUID

from rq import Queue, get_current_job

from orderledger.infrastructure.event_reads import EVENTS_TABLE
from orderledger.infrastructure.queue import (
    PENDING_MARK_MS, enqueue_pending_job, enqueue_projection, order_queue, parse_pending_member, pending_doorbell_key,
    pending_mark_key,
    pending_orders_key,
)
from workers.context import WorkerContext, current
from workers.deliveries import dispatch_new
from workers.processing import process_order, process_orders

log = logging.getLogger("orderledger.jobs")

# How long a job waits on the doorbell for more orders once the set is empty, before it ends: a steady
# stream of commands then needs no new RQ job (and its latency) per command.
LINGER_SECONDS = 0.5
# A job stops taking batches after this long and hands on to a fresh job, so that under endless load
# no job nears RQ's timeout and the worker's other queue (webhook calls) gets its turn between jobs.
PENDING_JOB_SECONDS = 10.0


def project_pending() -> int:
    """Process the orders waiting in the pending set, in bulk, until none come for a moment.

    Returns how many versions it processed. While it runs it keeps the mark
    fresh, so commands ring the doorbell instead of enqueueing more jobs; when
    it ends it drops the mark first and then looks once more, so an order added
    meanwhile is either seen here or its command finds no mark and enqueues a job.
    """
    context = current()
    job = get_current_job()
    redis, queue_name = job.connection, job.origin
    queue = order_queue(redis, queue_name)
    pending, mark, bell = pending_orders_key(queue_name), pending_mark_key(queue_name), pending_doorbell_key(queue_name)
    now = time.monotonic()
    deadline, idle_until = now + PENDING_JOB_SECONDS, now + LINGER_SECONDS
    total, helped = 0, False
    while True:
        with redis.pipeline(transaction=False) as pipe:
            pipe.set(mark, 1, px=PENDING_MARK_MS)
            # Orders per transaction (settings.projection_batch, 256 by default): large enough to amortise
            # the round trips, small enough to hold the per-order locks briefly and keep a failing
            # batch's one-by-one retry short.
            pipe.spop(pending, context.settings.projection_batch)
            pipe.scard(pending)
            _, members, left = pipe.execute()
        if members:
            if left and not helped:
                enqueue_pending_job(queue)  # more than a batch waits: another worker may join
                helped = True
            total += _process_batch(context, queue, members)
            idle_until = time.monotonic() + LINGER_SECONDS
            if time.monotonic() > deadline:
                enqueue_pending_job(queue)  # the rest is the next job's; the mark stays
                return total
            continue
        wait = min(idle_until, deadline) - time.monotonic()
        if wait > 0:
            redis.blpop([bell], timeout=min(wait, LINGER_SECONDS))
            continue
        redis.delete(mark)
        if not redis.scard(pending):
            return total
        idle_until = time.monotonic() + LINGER_SECONDS  # orders came as it stopped looking: carry on


def _process_batch(context: WorkerContext, queue: Queue, members: list[bytes]) -> int:
    tenants = {order: tenant for tenant, order in map(parse_pending_member, members)}
    try:
        with context.pool.connection() as conn:
            outcome = process_orders(conn, context.ledger, context.keyring, sorted(tenants),
                                     hold_seconds=context.slow_projection_seconds)
    except BaseException:
        queue.connection.sadd(pending_orders_key(queue.name), *members)  # back in the set; RQ retries this job
        raise
    dispatch_new(outcome.deliveries, context.settings.queue_name)  # after the commit; the delivery sweep covers a failure
    for order, error in outcome.failed.items():
        _retry_alone(context, queue, tenants[order], order, error)
    return outcome.versions


def project_order(tenant_id: str, aggregate_id: str) -> int:
    """Process one order up to its latest version; returns how many versions this run processed."""
    context = current()
    with context.pool.connection() as conn:
        processed, deliveries = process_order(conn, context.ledger, context.keyring, UUID(aggregate_id),
                                              hold_seconds=context.slow_projection_seconds)
    dispatch_new(deliveries, context.settings.queue_name)
    return processed


def _retry_alone(context: WorkerContext, queue: Queue, tenant: str, order: UUID, error: Exception) -> None:
    """Hand a failing order to a job of its own (named after its latest version), with RQ's retries."""
    with context.pool.connection() as conn:
        latest = conn.execute(f"SELECT max(originator_version) FROM {EVENTS_TABLE} WHERE originator_id = %s",
                              (order,)).fetchone()[0]
    log.warning("order %s failed to process (%r); it gets a job of its own, with retries", order, error)
    enqueue_projection(queue, UUID(tenant), order, latest)
