"""Enqueueing delivery jobs, by dotted name (the API never imports worker code).

Deliveries have a queue of their own beside the order queue: a slow receiver
must not hold up order processing, and webhook workers can be scaled apart.
Each try of a delivery is its own RQ job, `dlv_<delivery>_<try>`, so the
delivery sweep can ask RQ whether the next try is already on its way.
A failed enqueue loses nothing: the delivery row is pending and the sweep
enqueues it.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from uuid import UUID

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue
from rq.serializers import JSONSerializer

log = logging.getLogger("orderledger.webhooks")

DELIVER = "workers.deliveries.deliver"
# A try is bounded by the HTTP timeouts; this only stops a job that hangs elsewhere.
DELIVERY_JOB_TIMEOUT = 120
RESULT_TTL_SECONDS = 3600


def webhook_queue_name(queue_name: str) -> str:
    return f"{queue_name}-webhooks"


def webhook_queue(redis: Redis, queue_name: str) -> Queue:
    """The delivery queue that goes with the order queue `queue_name`."""
    return Queue(webhook_queue_name(queue_name), connection=redis, serializer=JSONSerializer)


def attempt_job_id(delivery_id: UUID, attempt: int) -> str:
    return f"dlv_{delivery_id.hex}_{attempt}"


def enqueue_delivery(queue: Queue, delivery_id: UUID, attempt: int, delay: float = 0.0) -> bool:
    """Ask a worker to make try number `attempt` of a delivery, now or after `delay` seconds."""
    options = dict(job_id=attempt_job_id(delivery_id, attempt), result_ttl=RESULT_TTL_SECONDS,
                   failure_ttl=RESULT_TTL_SECONDS, job_timeout=DELIVERY_JOB_TIMEOUT)
    try:
        if delay > 0:
            queue.enqueue_in(timedelta(seconds=delay), DELIVER, str(delivery_id), **options)
        else:
            queue.enqueue(DELIVER, str(delivery_id), **options)
    except RedisError as error:
        log.warning("enqueue of delivery %s failed (%s); the delivery sweep will send it", delivery_id, error)
        return False
    return True


def enqueue_deliveries(queue: Queue, delivery_ids: list[UUID]) -> None:
    """First tries of new deliveries (after the transaction that wrote them has committed)."""
    for delivery_id in delivery_ids:
        if not enqueue_delivery(queue, delivery_id, 1):
            return  # Redis is away: the sweep sends them all
