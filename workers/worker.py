"""`orderledger worker`: an RQ worker for the order queue, with the sweeper beside it.

SimpleWorker runs jobs in this process rather than forking one per job: jobs
are short database transactions, and keeping the connection pool and the
event-store application across jobs is several times faster than a fork.

Redis may go away. RQ waits out a connection error only while it is waiting
for a job; anywhere else its work loop quits (rq/worker/base.py `work`), and it
cannot start at all without Redis. So the work loop is restarted, with a
growing pause, until a stop is requested. Meanwhile the sweeper thread, which
needs only PostgreSQL, keeps processing committed versions.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from contextlib import suppress

from redis import Redis
from redis.exceptions import RedisError
from rq import SimpleWorker
from rq.serializers import JSONSerializer

# The job functions, imported when the worker starts rather than by RQ at its first job: that import
# (and compiling it, in a fresh container) would otherwise hold up the first commands by a second.
import workers.jobs  # noqa: F401
from orderledger.automation.dispatch import webhook_queue
from orderledger.infrastructure.queue import order_queue
from orderledger.runtime import freeze_startup_objects
from orderledger.settings import Settings
from workers.context import WorkerContext, install
from workers.delivery_sweep import start_delivery_sweep
from workers.sweeper import Sweeper, start_sweeper_thread

log = logging.getLogger("orderledger.worker")

RESTART_PAUSES = (0.5, 1.0, 2.0, 4.0, 5.0)  # seconds, then 5 s for as long as Redis stays away
# A work loop that ran this long was healthy: the next failure starts the pauses again.
HEALTHY_RUN_SECONDS = 30.0


class OrderWorker(SimpleWorker):
    # RQ's own wait between reconnects while dequeueing doubles up to 60 s; 5 s keeps recovery prompt.
    max_connection_wait_time = 5.0

    def __init__(self, *args, stopping: threading.Event | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Set by SIGTERM/SIGINT; survives this worker object, which a Redis outage may replace.
        self.stopping = stopping or threading.Event()

    def request_stop(self, signum, frame) -> None:
        self.stopping.set()
        try:
            super().request_stop(signum, frame)
        except RedisError:
            # RQ notes a stop during a job in Redis; while Redis is down the flag must do.
            self._stop_requested = True


def build_worker(settings: Settings, redis: Redis, name: str | None = None,
                 stopping: threading.Event | None = None) -> OrderWorker:
    return OrderWorker(
        # Orders first: RQ takes from the first non-empty queue, so queued webhook calls wait for order processing.
        [order_queue(redis, settings.queue_name), webhook_queue(redis, settings.queue_name)],
        connection=redis, serializer=JSONSerializer, name=name,
        # Registry cleanup (abandoned jobs) and restarting a scheduler that Redis took down run in maintenance.
        maintenance_interval=30, stopping=stopping,
    )


def run_worker(settings: Settings, *, burst: bool = False) -> None:
    context = WorkerContext.open(settings)
    install(context)
    sweeper = None
    if not burst:
        # Its own Redis client, with short timeouts: it only asks whether RQ still retries a failing job.
        sweeper_redis = Redis.from_url(settings.redis_url, socket_timeout=2, socket_connect_timeout=2)
        sweeper = start_sweeper_thread(
            Sweeper(settings.database_url, context.ledger, context.keyring, sweeper_redis,
                    queue_name=settings.queue_name), settings.sweep_interval)
        deliveries = start_delivery_sweep(settings.database_url, settings.redis_url, settings.queue_name,
                                          settings.sweep_interval)
    freeze_startup_objects()
    try:
        work_until_stopped(settings, burst=burst)
    finally:
        if sweeper is not None:
            thread, stop = sweeper
            stop.set()
            thread.join(10)
            sweeper_redis.close()
            deliveries[1].set()
            deliveries[0].join(10)
            deliveries[2].close()
        install(None)
        context.close()


def work_until_stopped(settings: Settings, *, burst: bool = False) -> None:
    """Run RQ's work loop, again after each Redis outage, until SIGTERM/SIGINT (or the queue is empty, in burst)."""
    stopping = threading.Event()
    failures = 0
    broken: OrderWorker | None = None  # a worker whose loop Redis broke: it could not record its own end
    while True:
        redis = Redis.from_url(settings.redis_url)
        worker = None
        started = time.monotonic()
        try:
            if broken is not None:
                _record_end(broken, redis)  # else RQ would list it beside its successor until its key expires
                broken = None
            worker = build_worker(settings, redis, stopping=stopping)
            log.info("worker %s listening on queue %r", worker.name, settings.queue_name)
            # The scheduler moves retried jobs back to the queue when their pause is over.
            worker.work(burst=burst, with_scheduler=True, logging_level="WARNING")
            if burst or stopping.is_set():
                return
            log.warning("RQ's work loop quit without a stop request (Redis away?); restarting it")
            broken = worker
        except RedisError as error:
            if stopping.is_set():
                return
            log.warning("Redis unavailable (%s); the worker retries, the sweeper carries on", error)
            broken = broken or worker
        finally:
            _discard(worker)
            redis.close()
        failures = 1 if time.monotonic() - started > HEALTHY_RUN_SECONDS else failures + 1
        if _pause(stopping, RESTART_PAUSES[min(failures, len(RESTART_PAUSES)) - 1]):
            return


def _record_end(worker: OrderWorker, redis: Redis) -> None:
    """Unregister a worker that lost Redis in mid-job (its own teardown could not reach Redis then).

    Raises RedisError while Redis is still away, so the restart loop tries again after its pause.
    """
    worker.connection = redis
    worker.register_death()


def _discard(worker: OrderWorker | None) -> None:
    """What RQ's teardown leaves behind when Redis failed under it: its pubsub thread would retry forever."""
    if worker is not None and worker.pubsub_thread is not None:
        worker.pubsub_thread.stop()
        with suppress(Exception):
            worker.pubsub.close()


def _pause(stopping: threading.Event, seconds: float) -> bool:
    """Wait between restarts, still answering SIGTERM/SIGINT (RQ's handlers belong to the discarded worker)."""
    handlers = {sig: signal.signal(sig, lambda *_: stopping.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        return stopping.wait(seconds)
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
