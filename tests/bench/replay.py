"""Replay: events/s rebuilding the read models, beside the sequential read rate of the event table.

The figure is `orderledger replay`'s rebuild of order_view (projections.replay,
called in this process: its report times the main pass). Beside it, for
orientation, the fold of every stream done directly: the notification log read
in pages of 1,000 with the ledger's recorder, each event decoded by its mapper,
each stream folded by the projection's pure `fold`, nothing written. Where the
replay command does not exist (older commits) that fold is the figure.
"""

from __future__ import annotations

import time
from collections import defaultdict
from uuid import UUID

import psycopg

from orderledger.application import OrderLedger
from orderledger.infrastructure.event_reads import EVENTS_TABLE
from orderledger.settings import Settings
from projections.order_view.fold import fold

PAGE = 1000


def sequential_read(database_url: str) -> tuple[int, float]:
    """Rows and seconds to read the whole event table with `SELECT *` in pages of 1,000 (keyset)."""
    rows, last = 0, 0
    with psycopg.connect(database_url) as conn:
        started = time.perf_counter()
        while True:
            page = conn.execute(
                f"SELECT * FROM {EVENTS_TABLE} WHERE notification_id > %s ORDER BY notification_id LIMIT %s",
                (last, PAGE), prepare=True,
            ).fetchall()
            if not page:
                break
            rows += len(page)
            last = page[-1][4]  # notification_id, the table's fifth column
        return rows, time.perf_counter() - started


def fold_all_streams(settings: Settings) -> tuple[int, int, float]:
    """Events, orders and seconds to read, decode and fold every stream (no writes)."""
    ledger = OrderLedger(env=settings.eventsourcing_env())
    try:
        started = time.perf_counter()
        streams: dict[UUID, list] = defaultdict(list)
        events, last = 0, 0
        while True:
            page = ledger.recorder.select_notifications(last, PAGE, inclusive_of_start=False)
            if not page:
                break
            for notification in page:
                streams[notification.originator_id].append(ledger.mapper.to_domain_event(notification))
            events += len(page)
            last = page[-1].id
        for stream in streams.values():
            fold(stream, 0)
        return events, len(streams), time.perf_counter() - started
    finally:
        ledger.close()


def rebuild_with_replay(settings: Settings):  # noqa: ANN201
    """`orderledger replay`'s own rebuild of order_view (fresh tables, then the switch), or None before it existed."""
    try:
        from projections.replay import replay
    except ImportError:
        return None
    ledger = OrderLedger(env=settings.eventsourcing_env())
    try:
        return replay(settings.database_url, ledger, settings.keyring())
    finally:
        ledger.close()


def measure_replay(bench) -> None:  # noqa: ANN001  (tests.bench.context.Bench; imported late to keep this light)
    from tests.bench.report import Row

    rows, read_seconds = sequential_read(bench.stack.settings.database_url)
    anchor = ("sequential read: SELECT * in pages of 1,000 (psycopg)", rows / read_seconds, "rows/s")
    read_how = f"read {rows:,} rows in {read_seconds:.2f} s"
    report = rebuild_with_replay(bench.stack.settings)
    if report is not None:
        bench.add(Row(
            "replay: `orderledger replay` rebuilding order_view (main pass)", report.events_per_second, "events/s",
            *anchor, target=("%", 0.5),
            note=(f"{report.events:,} events of {report.orders:,} orders in {report.seconds:.2f} s: read in stream "
                  f"order, decode, fold, write fresh tables (catch-up and switch-over not counted); {read_how}"),
        ))
    events, orders, fold_seconds = fold_all_streams(bench.stack.settings)
    label = "replay: read + decode + fold of every stream (projection fold called directly, no writes)"
    bench.add(Row(
        label, events / fold_seconds, "events/s", *anchor, target=None if report is not None else ("%", 0.5),
        note=f"{events:,} events of {orders:,} orders in {fold_seconds:.2f} s; {read_how}",
    ))
    if report is None:
        bench.run.notes.append("TODO replay: `orderledger replay` does not exist yet; the replay figure is the "
                               "projection fold called directly (read + decode + fold, no writes).")
