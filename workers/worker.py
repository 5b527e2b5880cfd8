"""`orderledger worker`: an RQ worker for the order queue.

SimpleWorker runs jobs in this process rather than forking one per job: jobs
are short database transactions, and keeping the connection pool and the
event-store application across jobs is several times faster than a fork.
"""

from __future__ import annotations

import logging

from redis import Redis
from rq import SimpleWorker
from rq.serializers import JSONSerializer

from orderledger.infrastructure.queue import order_queue
from orderledger.settings import Settings
from workers.context import WorkerContext, install

log = logging.getLogger("orderledger.worker")


def build_worker(settings: Settings, redis: Redis, name: str | None = None) -> SimpleWorker:
    return SimpleWorker([order_queue(redis, settings.queue_name)], connection=redis, serializer=JSONSerializer, name=name)


def run_worker(settings: Settings, *, burst: bool = False) -> None:
    context = WorkerContext.open(settings)
    install(context)
    redis = Redis.from_url(settings.redis_url)
    try:
        worker = build_worker(settings, redis)
        log.info("worker %s listening on queue %r", worker.name, settings.queue_name)
        # The scheduler moves retried jobs back to the queue when their pause is over.
        worker.work(burst=burst, with_scheduler=True, logging_level="WARNING")
    finally:
        install(None)
        context.close()
        redis.close()
