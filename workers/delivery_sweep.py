"""The delivery sweep: every pending delivery gets its try, whatever happened to its RQ job.

Delivery jobs are the fast path; the outbox rows are the truth. Every few
seconds one sweep (of all the workers' sweeps, the one holding the lock):

- writes the deliveries of action requests that were waiting for their version
  to be processed (an action embedded in a replace that changed nothing);
- enqueues the next try of every pending delivery that is overdue by more than
  a grace period, unless RQ still holds that try's job as queued or scheduled.
  A try in flight holds its row lock and is skipped; a try whose worker died
  ("started" in RQ, but nobody holds the row) is enqueued again.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from uuid import UUID

import psycopg
from redis import Redis
from redis.exceptions import RedisError
from rq.exceptions import NoSuchJobError
from rq.job import Job

from orderledger.automation.dispatch import attempt_job_id, enqueue_deliveries, enqueue_delivery, webhook_queue
from orderledger.automation.outbox import materialize

log = logging.getLogger("orderledger.webhooks")

BATCH = 500
# RQ states in which RQ itself will still run the try.
_RQ_ON_ITS_WAY = {b"queued", b"scheduled", b"deferred"}
# The sweeps' advisory lock (two-int key space, apart from the order locks and the order sweeper's).
_LOCK_CLASS, _LOCK_KEY = 0x6F6C7377, 0x646C7679  # "olsw", "dlvy"

_WAITING = """
SELECT a.action_request_id FROM action_request a
JOIN order_version v ON v.aggregate_id = a.aggregate_id AND v.version = a.version
WHERE a.materialized_at IS NULL
ORDER BY a.requested_at LIMIT %s
"""

_OVERDUE = """
SELECT delivery_id, attempts FROM webhook_delivery
WHERE status = 'pending' AND next_attempt_at < now() - make_interval(secs => %s)
ORDER BY next_attempt_at LIMIT %s
FOR UPDATE SKIP LOCKED
"""


@dataclass
class DeliverySweepReport:
    swept: bool = False  # False when another sweep held the lock
    materialized: int = 0  # deliveries written for waiting action requests
    enqueued: int = 0  # overdue tries enqueued again


class DeliverySweep:
    """Sweeps the outbox with its own connection; one thread drives it."""

    def __init__(self, database_url: str, redis: Redis, queue_name: str, grace: float) -> None:
        self._database_url, self._redis, self._grace = database_url, redis, grace
        self._queue = webhook_queue(redis, queue_name)
        self._conn: psycopg.Connection | None = None

    def sweep(self) -> DeliverySweepReport:
        conn = self._connect()
        try:
            with conn.transaction():
                if not conn.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", (_LOCK_CLASS, _LOCK_KEY)).fetchone()[0]:
                    return DeliverySweepReport()
                created = [d for (request_id,) in conn.execute(_WAITING, (BATCH,)).fetchall()
                           for d in materialize(conn, request_id)]
                overdue = conn.execute(_OVERDUE, (self._grace, BATCH)).fetchall()
        except (psycopg.OperationalError, psycopg.InterfaceError):
            self.close()
            raise
        # Enqueued after the commit: a job must find the rows it is about.
        enqueue_deliveries(self._queue, created)
        report = DeliverySweepReport(swept=True, materialized=len(created))
        for delivery_id, attempts in overdue:
            if self._requeue(delivery_id, attempts + 1):
                report.enqueued += 1
        if report.enqueued:
            log.info("re-enqueued %d overdue deliveries whose try was lost", report.enqueued)
        return report

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._conn = None

    def _requeue(self, delivery_id: UUID, attempt: int) -> bool:
        job_id = attempt_job_id(delivery_id, attempt)
        try:
            if self._redis.hget(Job.key_for(job_id), "status") in _RQ_ON_ITS_WAY:
                return False
            # The lost job's record (e.g. "started" by a worker that died) would shadow the new one.
            Job.fetch(job_id, connection=self._redis, serializer=self._queue.serializer).delete()
        except NoSuchJobError:
            pass
        except RedisError:
            return False
        return enqueue_delivery(self._queue, delivery_id, attempt)

    def _connect(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self._database_url, autocommit=True, connect_timeout=5,
                                         application_name=f"orderledger-delivery-sweep pid={os.getpid()}")
        return self._conn


def run_delivery_sweep(sweep: DeliverySweep, interval: float, stop: threading.Event) -> None:
    """Sweep every `interval` seconds until `stop` is set; outlives database and Redis outages."""
    failing = False
    while not stop.wait(interval):
        try:
            sweep.sweep()
        except Exception as error:
            log.warning("delivery sweep failed, retrying in %.1fs: %s", interval, error, exc_info=not failing)
            failing = True
        else:
            failing = False
    sweep.close()


def start_delivery_sweep(
    database_url: str, redis_url: str, queue_name: str, interval: float
) -> tuple[threading.Thread, threading.Event, Redis]:
    """Run the delivery sweep in a daemon thread; overdue means `2 * interval` (at least 1 s) past due."""
    redis = Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)
    sweep = DeliverySweep(database_url, redis, queue_name, grace=max(1.0, 2 * interval))
    stop = threading.Event()
    thread = threading.Thread(target=run_delivery_sweep, args=(sweep, interval, stop), name="delivery-sweep", daemon=True)
    thread.start()
    return thread, stop, redis
