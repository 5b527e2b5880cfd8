"""Rebuilding read models from the event store while the service keeps serving the old ones.

1. Create fresh copies of the projection's tables.
2. Fold every stream up to the store's safe head P into them: one pass over
   the events table in stream order (a server-side cursor), so each order is
   folded whole and written once, memory bounded by one order. The events are
   decoded with each contact key looked up once for the pass (under the lock
   below no key can be destroyed), and written with binary COPY on a second
   thread while the next batch is folded (rebuild.FreshTableWriter).
3. Catch up: fold again the orders with events committed after P, until few
   are left.
4. Switch over in one transaction: take the projection writers' lock
   exclusively (jobs in flight finish, new ones wait), fold the last few,
   drop the live tables and rename the fresh ones. Readers see the old tables
   or the new ones, never a mix; waiting jobs go on against the new ones.

Only the pure fold and table writes run: no job, so no webhook or action fires.
One rebuild (or erasure) runs at a time.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import ModuleType

import psycopg
from eventsourcing.persistence import StoredEvent
from psycopg.rows import tuple_row

from orderledger.application import OrderLedger
from orderledger.domain.order import Order
from orderledger.domain.version_tag import TagKeyring
from orderledger.history.horizon import safe_head
from orderledger.infrastructure.event_reads import EVENTS_TABLE
from projections.locks import PROJECTION_WRITERS, REBUILD_OR_ERASURE
from projections.order_view import rebuild as order_view_rebuild

PROJECTIONS: dict[str, ModuleType] = {order_view_rebuild.NAME: order_view_rebuild}

# Fewer new events than this are folded during the switch-over, while writers wait; more, before it.
CATCH_UP_AT_SWITCH = 500
PAGE_SIZE = 1000  # events read (and keys fetched) at a time
SWITCH_ATTEMPTS = 5
SWITCH_LOCK_TIMEOUT = "5s"

_STREAMS = f"""
SELECT originator_id, originator_version, topic, state FROM {EVENTS_TABLE}
WHERE notification_id <= %s ORDER BY originator_id, originator_version
"""
_CHANGED = f"SELECT DISTINCT originator_id FROM {EVENTS_TABLE} WHERE notification_id > %s AND notification_id <= %s"


class RebuildBusy(RuntimeError):
    """Another rebuild or an erasure is running."""


@dataclass
class ReplayReport:
    projection: str
    events: int = 0  # events folded in the main pass
    orders: int = 0  # orders written in the main pass
    caught_up: int = 0  # orders folded again for events committed during the rebuild
    position: int = 0  # the notification id the rebuilt tables are complete up to
    seconds: float = 0.0  # the main pass (after the fresh tables are made, up to its last write)
    switch_seconds: float = 0.0  # how long projection writers waited for the switch-over

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


def replay(
    database_url: str, ledger: OrderLedger, keyring: TagKeyring, projection: str = order_view_rebuild.NAME, *,
    on_total: Callable[[int], None] = lambda total: None, on_progress: Callable[[int], None] = lambda events: None,
) -> ReplayReport:
    """Rebuild `projection` from every event and switch to it; raises RebuildBusy, or KeyError for an unknown name."""
    target = PROJECTIONS[projection]
    report = ReplayReport(projection)
    with psycopg.connect(database_url, autocommit=True) as conn, psycopg.connect(database_url) as reader:
        if not conn.execute("SELECT pg_try_advisory_lock(%s, %s)", REBUILD_OR_ERASURE).fetchone()[0]:
            raise RebuildBusy("another rebuild or an erasure is running")
        target.create_fresh_tables(conn)
        report.position = safe_head(conn)
        on_total(conn.execute(f"SELECT count(*) FROM {EVENTS_TABLE} WHERE notification_id <= %s",
                              (report.position,)).fetchone()[0])
        with target.FreshTableWriter(conn, keyring) as writer:
            started = time.perf_counter()
            with _collector_sets_aside_older_objects():
                for stream in _streams(reader, ledger, report.position):
                    writer.add(stream)
                    report.events += len(stream)
                    report.orders += 1
                    on_progress(len(stream))
                writer.flush()
            report.seconds = time.perf_counter() - started
            while (head := safe_head(conn)) - report.position > CATCH_UP_AT_SWITCH:
                report.caught_up += writer.rewrite(ledger, _changed(conn, report.position, head))
                report.position = head
            conn.execute(f"ANALYZE {', '.join(t + target.SUFFIX for t in target.TABLES)}")
            _switch(conn, ledger, target, writer, report)
    return report


def _streams(reader: psycopg.Connection, ledger: OrderLedger, position: int) -> Iterator[list[Order.Event]]:
    """Every stream up to `position`, whole and in version order, decoded (upcast, personal data opened)."""
    # Under the rebuild-or-erasure lock no key is destroyed: each is looked up once for the whole pass.
    mapper = ledger.mapper.holding_keys()  # type: ignore[attr-defined]
    # Binary rows: the state arrives as bytes, not as hex text to decode (a third of the read's client time).
    with reader.transaction(), reader.cursor(name="replay_streams", row_factory=tuple_row, binary=True) as cursor:
        cursor.execute(_STREAMS, (position,))
        stream: list[Order.Event] = []
        while rows := cursor.fetchmany(PAGE_SIZE):
            mapper.sealer.prefetch_keys(row[3] for row in rows)  # one query for the page's keys not held yet
            for originator_id, version, topic, state in rows:
                if stream and stream[-1].originator_id != originator_id:
                    yield stream
                    stream = []
                stream.append(mapper.to_domain_event(StoredEvent(originator_id, version, topic, state)))  # type: ignore[arg-type]
        if stream:
            yield stream


@contextmanager
def _collector_sets_aside_older_objects() -> Iterator[None]:
    """The objects the process had before the pass are left out of the garbage collector's scans meanwhile.

    The pass makes millions of short-lived dicts and lists; each of the collector's full passes, which they
    set off, would walk every object of the process again (nearly a fifth of the pass's CPU time when measured).
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _changed(conn: psycopg.Connection, after: int, head: int) -> list:
    return [row[0] for row in conn.execute(_CHANGED, (after, head)).fetchall()]


def _switch(conn: psycopg.Connection, ledger: OrderLedger, target: ModuleType, writer: object,
            report: ReplayReport) -> None:
    for attempt in range(SWITCH_ATTEMPTS):
        paused = time.perf_counter()
        try:
            with conn.transaction():
                # A reader of the live tables that does not let go must not stall everyone queued behind us.
                conn.execute(f"SET LOCAL lock_timeout = '{SWITCH_LOCK_TIMEOUT}'")
                conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", PROJECTION_WRITERS)
                head = safe_head(conn)
                report.caught_up += writer.rewrite(ledger, _changed(conn, report.position, head))  # type: ignore[attr-defined]
                target.swap_in_fresh_tables(conn)
                report.position = head
            report.switch_seconds = time.perf_counter() - paused
            return
        except psycopg.errors.LockNotAvailable:
            if attempt == SWITCH_ATTEMPTS - 1:
                raise
