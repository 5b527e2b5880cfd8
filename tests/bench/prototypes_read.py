"""Read-side prototypes for `--prototypes` (see prototypes.py): batched and bulk projection, and the
API's order read without the asyncpg pool's reset on release."""

from __future__ import annotations

import time
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from orderledger.application import OrderLedger
from orderledger.jsoncodec import dumps_text
from projections.order_view.fold import fold
from projections.order_view.updater import _INSERT_VERSION, _UPSERT_VIEW, order_lock_key
from projections.order_view.updater import project_order as project_one
from tests.bench.context import Bench
from tests.bench.report import Row
from workers.failures import resolve_processed

PROJECTION_BATCH = 100

# workers.failures.resolve_processed for many orders at once.
_RESOLVE_MANY = """
UPDATE projection_failure f SET resolved_at = now() FROM order_view v
WHERE f.aggregate_id = ANY(%s) AND f.resolved_at IS NULL AND v.aggregate_id = f.aggregate_id AND f.version <= v.version
"""


def _bulk_project(conn, ledger: OrderLedger, keyring, ids: list[UUID]) -> int:  # noqa: ANN001
    """Project many orders in one transaction: one lock statement, one read of every stream, two executemany."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(k) FROM unnest(%s::bigint[]) k ORDER BY k",
                     ([order_lock_key(i) for i in ids],))
        done = dict(conn.execute("SELECT aggregate_id, version FROM order_view WHERE aggregate_id = ANY(%s)",
                                 (ids,)).fetchall())
        streams: dict[UUID, list] = {i: [] for i in ids}
        rows = conn.execute("SELECT originator_id, originator_version, topic, state FROM orderledger_events "
                            "WHERE originator_id = ANY(%s) ORDER BY originator_id, originator_version", (ids,))
        for originator_id, version, topic, state in rows.fetchall():
            streams[originator_id].append(
                ledger.mapper.to_domain_event(StoredEvent(originator_id, version, topic, bytes(state))))
        views, versions = [], []
        for aggregate_id, events in streams.items():
            result = fold(events, done.get(aggregate_id, 0))
            if result is None:
                continue
            view, new = result
            tenant = UUID(view.tenant_id)
            views.append((view.aggregate_id, view.tenant_id, view.order_id, view.version, dumps_text(view.document),
                          view.is_deleted, view.contact_key, view.created_at, view.updated_at))
            versions += [(aggregate_id, v.version, tenant, view.order_id, keyring.issue(tenant, aggregate_id, v.version),
                          v.event_type, v.recorded_at, dumps_text(v.warnings)) for v in new]
        with conn.cursor() as cursor:
            cursor.executemany(_UPSERT_VIEW, views)
            cursor.executemany(_INSERT_VERSION, versions)
        conn.execute(_RESOLVE_MANY, (ids,))
        return len(versions)


def projection_prototypes(bench: Bench, sets: dict[str, list[UUID]], count: int) -> None:
    import psycopg

    settings = bench.stack.settings
    ledger, keyring = OrderLedger(env=settings.eventsourcing_env()), settings.keyring()
    try:
        with psycopg.connect(settings.database_url, autocommit=True) as conn:
            def timed(ids: list[UUID], step: int, body) -> float:  # noqa: ANN001
                started = time.perf_counter()
                processed = sum(body(ids[i:i + step]) for i in range(0, len(ids), step))
                return processed / (time.perf_counter() - started)

            def per_order(ids: list[UUID]) -> int:
                with conn.transaction():
                    n = project_one(conn, ledger, keyring, ids[0])
                    resolve_processed(conn, ids[0])
                return n

            def per_batch(ids: list[UUID]) -> int:
                with conn.transaction():
                    n = 0
                    for aggregate_id in ids:
                        n += project_one(conn, ledger, keyring, aggregate_id)
                        resolve_processed(conn, aggregate_id)
                return n

            today = timed(sets["today"][:count], 1, per_order)
            batched = timed(sets["functions"][:count], PROJECTION_BATCH, per_batch)
            bulk = timed(sets["grouped"][:count], PROJECTION_BATCH, lambda ids: _bulk_project(conn, ledger, keyring, ids))
    finally:
        ledger.close()
    anchor = "one transaction per order, today's projection (no RQ, no outbox)"
    bench.add(Row(f"projection: {PROJECTION_BATCH} orders per transaction, same statements", batched, "versions/s",
                  anchor, today, "versions/s", style="x", note="one process, one connection"))
    bench.add(Row(f"projection: bulk projector, {PROJECTION_BATCH} orders per transaction", bulk, "versions/s",
                  anchor, today, "versions/s", style="x",
                  note="one read of all streams, executemany of views and versions, one resolve of failures "
                       "(no outbox yet)"))


def read_prototypes(bench: Bench, tenant: UUID, seconds: float) -> None:
    """`processed_order` from 16 tasks on an asyncpg pool: with the pool's reset on release (today: a second
    round trip per read, `SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`) and without."""
    import asyncio

    import asyncpg

    from projections.order_view.queries import processed_order

    with bench.stack.connect() as conn:
        order_ids = [r[0] for r in conn.execute("SELECT order_id FROM order_view WHERE tenant_id = %s LIMIT 2000",
                                                (tenant,)).fetchall()]
    if not order_ids:
        return

    async def no_reset(conn: asyncpg.Connection) -> None:
        return None

    async def rate(**pool_options) -> float:  # noqa: ANN003
        pool = await asyncpg.create_pool(bench.stack.settings.database_url, min_size=16, max_size=16, **pool_options)
        reads, deadline = [0], time.monotonic() + seconds

        async def reader(n: int) -> None:
            i = n
            while time.monotonic() < deadline:
                i += 16
                assert await processed_order(pool, tenant, order_ids[i % len(order_ids)]) is not None
                reads[0] += 1

        started = time.monotonic()
        await asyncio.gather(*(reader(n) for n in range(16)))
        elapsed = time.monotonic() - started
        await pool.close()
        return reads[0] / elapsed

    today = asyncio.run(rate())
    without = asyncio.run(rate(reset=no_reset))
    bench.add(Row("read: processed_order() on an asyncpg pool without the reset on release", without, "reads/s",
                  "the same with asyncpg's default reset (today)", today, "reads/s", style="x",
                  note="16 tasks in one process; the API's reads hold no session state that a reset must clear"))
