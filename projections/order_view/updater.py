"""Writes the order view and the processed-version record, in one transaction, guarded by version.

Safe to run any number of times, concurrently, in any order: an advisory lock
per order serialises writers, and only versions above the view's are written.
So a repeated or late job changes nothing.

Two forms: one order (`project_order`), and many orders at once
(`project_orders`: the same rows, with one statement per step for all of them
instead of one per order, which is what lets processing keep up with ingest).
"""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

import psycopg
from eventsourcing.persistence import StoredEvent

from orderledger.application import OrderLedger
from orderledger.domain.version_tag import TagKeyring
from orderledger.infrastructure.event_reads import EVENTS_TABLE
from orderledger.jsoncodec import dumps_text
from projections.locks import PROJECTION_WRITERS
from projections.order_view.fold import VersionRow, ViewRow, fold

_UPSERT_VIEW = """
INSERT INTO order_view (aggregate_id, tenant_id, order_id, version, document, is_deleted, contact_key, created_at, updated_at)
VALUES (%s, %s, %s, %s, %s::jsonb, %s, %s, %s, %s)
ON CONFLICT (aggregate_id) DO UPDATE SET
    version = EXCLUDED.version, document = EXCLUDED.document, is_deleted = EXCLUDED.is_deleted,
    contact_key = EXCLUDED.contact_key, updated_at = EXCLUDED.updated_at
WHERE order_view.version < EXCLUDED.version
"""

_INSERT_VERSION = """
INSERT INTO order_version (aggregate_id, version, tenant_id, order_id, version_tag, event_type, recorded_at, warnings)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s::jsonb)
ON CONFLICT (aggregate_id, version) DO NOTHING
"""


# The read models are derived from the durable event store, so their transactions need not wait for
# their own WAL flush: a crash can lose only the last projection commits, as a whole, and the sweeper
# finds those versions unprocessed and processes them again (VersionTags are derived, so they come out
# the same). This takes the flush (milliseconds) out of every command's way to its VersionTag.
_ASYNC_COMMIT = "set_config('synchronous_commit', 'off', true)"

# Shared first: a rebuild's switch-over (projections/replay.py) waits for this transaction, then this one for it.
# Then the per-order locks in key order, so two bulk writers never wait for each other in a cycle
# (the subquery's ORDER BY sets the order in which the aggregate calls the lock function).
_LOCK_ORDERS = f"""
SELECT {_ASYNC_COMMIT}, pg_advisory_xact_lock_shared(%s, %s),
       (SELECT count(pg_advisory_xact_lock(k)) FROM (SELECT DISTINCT k FROM unnest(%s::bigint[]) AS k ORDER BY k) AS keys)
"""

_VIEW_VERSIONS = "SELECT aggregate_id, version FROM order_view WHERE aggregate_id = ANY(%s)"

_STREAMS = f"""
SELECT originator_id, originator_version, topic, state FROM {EVENTS_TABLE}
WHERE originator_id = ANY(%s) ORDER BY originator_id, originator_version
"""


def order_lock_key(aggregate_id: UUID) -> int:
    """A signed 64-bit advisory-lock key for one order stream."""
    return int.from_bytes(aggregate_id.bytes[:8], "big", signed=True)


def project_order(conn: psycopg.Connection, ledger: OrderLedger, keyring: TagKeyring, aggregate_id: UUID) -> int:
    """Bring one order's view up to its latest event. Returns how many versions this call processed."""
    with conn.transaction():
        conn.execute(_LOCK_ORDERS, (*PROJECTION_WRITERS, [order_lock_key(aggregate_id)]))
        row = conn.execute("SELECT version FROM order_view WHERE aggregate_id = %s", (aggregate_id,)).fetchone()
        processed = row[0] if row else 0
        result = fold(ledger.stream(aggregate_id), processed)
        if result is None:
            return 0
        _write(conn, keyring, [result])
        return len(result[1])


def project_orders(
    conn: psycopg.Connection, ledger: OrderLedger, keyring: TagKeyring, aggregate_ids: Iterable[UUID]
) -> dict[UUID, int]:
    """Bring many orders' views up to their latest events, in the caller's transaction.

    Returns how many versions this call processed per order (orders with none
    left out). All or nothing: one order's error fails the whole call.
    """
    orders = sorted(set(aggregate_ids))
    if not orders:
        return {}
    # One round trip for the three (a pipeline): the locks, then, under them, on this transaction's
    # connection, the views' versions and the streams (so no newer event of these orders can be missed).
    with conn.pipeline():
        conn.execute(_LOCK_ORDERS, (*PROJECTION_WRITERS, [order_lock_key(a) for a in orders]))
        views = conn.execute(_VIEW_VERSIONS, (orders,))
        stored = conn.execute(_STREAMS, (orders,))
        processed = dict(views.fetchall())
        rows = stored.fetchall()
    streams: dict[UUID, list] = {}
    for originator_id, version, topic, state in rows:
        event = ledger.mapper.to_domain_event(StoredEvent(originator_id, version, topic, state))
        streams.setdefault(originator_id, []).append(event)
    results = [r for a, events in streams.items() if (r := fold(events, processed.get(a, 0))) is not None]
    _write(conn, keyring, results)
    return {view.aggregate_id: len(versions) for view, versions in results}


def _write(conn: psycopg.Connection, keyring: TagKeyring, results: list[tuple[ViewRow, list[VersionRow]]]) -> None:
    """Upsert the views and insert a tagged row per new version (one batch of statements for all orders)."""
    views, versions = [], []
    for view, new_versions in results:
        views.append((view.aggregate_id, view.tenant_id, view.order_id, view.version, dumps_text(view.document),
                      view.is_deleted, view.contact_key, view.created_at, view.updated_at))
        tenant = UUID(view.tenant_id)
        versions.extend(
            (view.aggregate_id, v.version, tenant, view.order_id, keyring.issue(tenant, view.aggregate_id, v.version),
             v.event_type, v.recorded_at, dumps_text(v.warnings))
            for v in new_versions
        )
    with conn.cursor() as cursor:
        cursor.executemany(_UPSERT_VIEW, views)
        cursor.executemany(_INSERT_VERSION, versions)
