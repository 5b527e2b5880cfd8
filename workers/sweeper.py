"""The sweeper: every committed order version gets processed, whatever happened to its RQ job.

RQ jobs are the fast path; the sweeper is the guarantee. It reads the event
store's notification log from a position kept per sweeper name in
`sweeper_position`, finds the orders whose view is behind their newest event,
and runs the (idempotent) projection for them inline. The position moves past a
page once every order in it is processed or recorded as failed, so a command
whose job was lost (API killed before the enqueue, Redis down, a worker killed
mid-job) is processed within a sweep or two, with only PostgreSQL up.

The event store takes an EXCLUSIVE table lock per insert, so notification ids
become visible in order: every id up to the head read now is committed or a
permanent gap (a rolled-back insert), and the position never skips work.

Only one sweeper works at a time: it holds a session advisory lock on its own
connection for as long as that connection lives; the others skip.
"""

from __future__ import annotations

import logging
import os
import threading
import zlib
from dataclasses import dataclass
from uuid import UUID

import psycopg
from redis import Redis
from redis.exceptions import RedisError
from rq.job import Job

from orderledger.application import OrderLedger
from orderledger.domain.ids import job_id
from orderledger.domain.version_tag import TagKeyring
from orderledger.infrastructure.event_reads import EVENTS_TABLE
from orderledger.infrastructure.queue import pending_member, pending_orders_key
from orderledger.settings import Settings
from workers.failures import describe, record_failure
from workers.processing import INFRASTRUCTURE_ERRORS, process_orders

log = logging.getLogger("orderledger.sweeper")

SWEEPER_NAME = "order_view"
PAGE_SIZE = 1000
# First key of the sweepers' two-int advisory locks: a key space apart from the per-order bigint locks.
_LOCK_CLASS = 0x6F6C7377  # "olsw"
# RQ job states in which RQ itself will still run the job: the sweeper then leaves a failure to RQ's retries.
_RQ_PENDING = {b"queued", b"started", b"scheduled", b"deferred"}
# Orders per transaction when a page has many lagging orders: the jobs' default batch.
SWEEP_BATCH = Settings.projection_batch

_PAGE_END = f"""
SELECT max(notification_id) FROM (
    SELECT notification_id FROM {EVENTS_TABLE}
    WHERE notification_id > %s AND notification_id <= %s ORDER BY notification_id LIMIT %s
) page
"""

# Orders of the page whose view is behind their newest event in the page.
_LAGGING = f"""
SELECT e.originator_id, min(e.originator_version), max(e.originator_version), coalesce(v.version, 0)
FROM {EVENTS_TABLE} e LEFT JOIN order_view v ON v.aggregate_id = e.originator_id
WHERE e.notification_id > %s AND e.notification_id <= %s
GROUP BY e.originator_id, v.version
HAVING max(e.originator_version) > coalesce(v.version, 0)
"""

_TENANT_OF = f"""
SELECT convert_from(state, 'UTF8')::jsonb ->> 'tenant_id' FROM {EVENTS_TABLE}
WHERE originator_id = %s AND originator_version = %s
"""

_ADVANCE = """
INSERT INTO sweeper_position AS p (name, notification_id, updated_at) VALUES (%s, %s, now())
ON CONFLICT (name) DO UPDATE SET notification_id = EXCLUDED.notification_id, updated_at = now()
WHERE p.notification_id < EXCLUDED.notification_id
"""


@dataclass
class SweepReport:
    swept: bool = False  # False when another sweeper holds the lock
    position: int = 0  # where this sweep left the position
    orders: int = 0  # lagging orders found
    versions: int = 0  # versions this sweep processed
    failed: int = 0  # lagging orders whose projection raised


class Sweeper:
    """Sweeps the notification log with its own connection; not thread-safe (one thread drives it)."""

    def __init__(
        self, database_url: str, ledger: OrderLedger, keyring: TagKeyring, redis: Redis | None = None,
        name: str = SWEEPER_NAME, page_size: int = PAGE_SIZE, queue_name: str | None = None,
    ) -> None:
        self.name = name
        self._queue_name = queue_name  # whose pending set and jobs tell that RQ will still process an order
        self._database_url, self._ledger, self._keyring, self._redis = database_url, ledger, keyring, redis
        self._page_size = page_size
        self._lock_key = zlib.crc32(name.encode()) - 2**31  # a signed int4
        self._conn: psycopg.Connection | None = None
        self._locked = False
        self._previous_head: int | None = None

    def sweep(self, *, settle: bool = True) -> SweepReport:
        """One pass up to the log's head.

        With `settle`, only up to the head the previous pass saw: a version
        committed since then still has its RQ job on the way, and racing it
        would only double the work. Without it (`orderledger sweep --once`),
        up to the head now.
        """
        try:
            conn = self._connect()
            head = conn.execute(f"SELECT coalesce(max(notification_id), 0) FROM {EVENTS_TABLE}").fetchone()[0]
            bound = self._previous_head if settle else head
            self._previous_head = head
            if not self._lock(conn):
                return SweepReport()
            row = conn.execute("SELECT notification_id FROM sweeper_position WHERE name = %s", (self.name,)).fetchone()
            report = SweepReport(swept=True, position=row[0] if row else 0)
            while bound is not None and report.position < bound:
                end = conn.execute(_PAGE_END, (report.position, bound, self._page_size)).fetchone()[0] or bound
                self._sweep_page(conn, report, report.position, end)
                conn.execute(_ADVANCE, (self.name, end))
                report.position = end
            if report.versions:
                log.info("swept %d versions of %d orders that no job had processed", report.versions, report.orders)
            return report
        except INFRASTRUCTURE_ERRORS:  # of the database, not of an order: keep the position, try again
            self.close()  # a broken session has lost its lock too; the next pass reconnects
            raise

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._conn, self._locked = None, False

    def _connect(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(
                self._database_url, autocommit=True, connect_timeout=5,
                # Names the process that sweeps, in pg_stat_activity, for operators (and the fault tests).
                application_name=f"orderledger-sweeper {self.name} pid={os.getpid()}",
            )
            self._locked = False
        return self._conn

    def _lock(self, conn: psycopg.Connection) -> bool:
        if not self._locked:
            self._locked = conn.execute("SELECT pg_try_advisory_lock(%s, %s)", (_LOCK_CLASS, self._lock_key)).fetchone()[0]
            if self._locked:
                log.info("this process (pid %d) now runs the %r sweeper", os.getpid(), self.name)
        return self._locked

    def _sweep_page(self, conn: psycopg.Connection, report: SweepReport, after: int, end: int) -> None:
        lagging = {row[0]: row for row in conn.execute(_LAGGING, (after, end)).fetchall()}
        report.orders += len(lagging)
        orders = sorted(lagging)
        # In bulk, as the jobs process (workers/processing.py): after an outage the sweeper may face a whole
        # backlog, and order by order it would fall behind the commands still coming in. The outbox rows are
        # written as the jobs write them; the delivery sweep sends them.
        for start in range(0, len(orders), SWEEP_BATCH):
            outcome = process_orders(conn, self._ledger, self._keyring, orders[start:start + SWEEP_BATCH])
            report.versions += outcome.versions  # counted once committed
            for aggregate_id, error in outcome.failed.items():
                # One order's bug must not hold up the log: record it and go on (its transaction rolled back,
                # so every version above the view's is still unprocessed).
                _, first, last, view_version = lagging[aggregate_id]
                report.failed += 1
                self._record_failure(conn, aggregate_id, list(range(max(first, view_version + 1), last + 1)), error)

    def _record_failure(self, conn: psycopg.Connection, aggregate_id: UUID, versions: list[int], error: Exception) -> None:
        tenant = UUID(conn.execute(_TENANT_OF, (aggregate_id, versions[-1])).fetchone()[0])
        left_to_rq = self._pending_in_rq(tenant, aggregate_id, versions)
        versions = [v for v in versions if v not in left_to_rq]
        log.warning("order %s v%s failed to process: %r%s", aggregate_id, versions or sorted(left_to_rq), error,
                    "; RQ still retries it" if left_to_rq else "")
        if versions:
            record_failure(conn, tenant, aggregate_id, versions, describe(type(error), error, error.__traceback__), 1)

    def _pending_in_rq(self, tenant: UUID, aggregate_id: UUID, versions: list[int]) -> set[int]:
        """Versions that RQ will still process (so RQ's retries, not this sweep, decide they failed).

        All of them while the order waits in the pending set for a bulk job;
        else those whose own job RQ will still run.
        """
        if self._redis is None:
            return set()
        try:
            with self._redis.pipeline(transaction=False) as pipe:
                if self._queue_name is not None:
                    pipe.sismember(pending_orders_key(self._queue_name), pending_member(tenant, aggregate_id))
                for version in versions:
                    pipe.hget(Job.key_for(job_id(aggregate_id, version)), "status")
                answers = pipe.execute()
        except RedisError:
            return set()  # Redis down: nothing will retry it before it comes back
        if self._queue_name is not None and answers.pop(0):
            return set(versions)
        return {v for v, status in zip(versions, answers) if status in _RQ_PENDING}


def run_sweeper(sweeper: Sweeper, interval: float, stop: threading.Event) -> None:
    """Sweep every `interval` seconds until `stop` is set; outlives database outages."""
    failing = False
    interval = max(interval, 0.1)  # a zero from the environment must not become a busy loop
    while not stop.wait(interval):
        try:
            sweeper.sweep()
        except Exception as error:
            # Logged once per outage with its traceback, then briefly: the loop retries every interval.
            log.warning("sweep failed, retrying in %.1fs: %s", interval, error, exc_info=not failing)
            failing = True
        else:
            if failing:
                log.warning("sweeper recovered")
            failing = False
    sweeper.close()


def start_sweeper_thread(sweeper: Sweeper, interval: float) -> tuple[threading.Thread, threading.Event]:
    """Run the sweeper in a daemon thread: it dies with the process, and its lock with its connection."""
    stop = threading.Event()
    thread = threading.Thread(target=run_sweeper, args=(sweeper, interval, stop), name="sweeper", daemon=True)
    thread.start()
    return thread, stop
