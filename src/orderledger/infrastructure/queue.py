"""Enqueueing work for the RQ workers, by dotted name: the API never imports worker code.

Jobs get primitive arguments only and are serialised as JSON. The RQ job id is
our jobId, so a duplicate enqueue of the same version is the same job.
"""

from __future__ import annotations

import logging
from uuid import UUID

from redis import Redis
from redis.exceptions import RedisError
from rq import Callback, Queue, Retry
from rq.serializers import JSONSerializer

from orderledger.domain.ids import job_id

log = logging.getLogger("orderledger.queue")

PROJECT_ORDER = "workers.jobs.project_order"
# Called by RQ after each failed attempt; records the last one in PostgreSQL (job status outlives RQ's record).
ON_PROJECTION_FAILURE = "workers.failures.on_projection_failure"

# A failing order is retried with growing pauses, then marked Failed; others flow past it.
PROJECTION_RETRY_INTERVALS = [1, 3, 10, 30, 60]
# How long RQ keeps a job's own record; after that the ledger alone answers job status.
RESULT_TTL_SECONDS = 24 * 3600
FAILURE_TTL_SECONDS = 7 * 24 * 3600


def order_queue(redis: Redis, name: str) -> Queue:
    return Queue(name, connection=redis, serializer=JSONSerializer)


def enqueue_projection(queue: Queue, tenant_id: UUID, aggregate_id: UUID, version: int) -> bool:
    """Ask a worker to process the order up to `version`. False if Redis could not take it.

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
