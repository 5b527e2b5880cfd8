"""Writes the order view and the processed-version record, in one transaction, guarded by version.

Safe to run any number of times, concurrently, in any order: an advisory lock
per order serialises writers, and only versions above the view's are written.
So a repeated or late job changes nothing.
"""

from __future__ import annotations

from uuid import UUID

import psycopg

from orderledger.application import OrderLedger
from orderledger.domain.version_tag import TagKeyring
from orderledger.jsoncodec import dumps_text
from projections.locks import PROJECTION_WRITERS
from projections.order_view.fold import fold

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


def order_lock_key(aggregate_id: UUID) -> int:
    """A signed 64-bit advisory-lock key for one order stream."""
    return int.from_bytes(aggregate_id.bytes[:8], "big", signed=True)


def project_order(conn: psycopg.Connection, ledger: OrderLedger, keyring: TagKeyring, aggregate_id: UUID) -> int:
    """Bring one order's view up to its latest event. Returns how many versions this call processed."""
    with conn.transaction():
        # Shared first: a rebuild's switch-over (projections/replay.py) waits for this transaction, then this one for it.
        conn.execute("SELECT pg_advisory_xact_lock_shared(%s, %s), pg_advisory_xact_lock(%s)",
                     (*PROJECTION_WRITERS, order_lock_key(aggregate_id)))
        row = conn.execute("SELECT version FROM order_view WHERE aggregate_id = %s", (aggregate_id,)).fetchone()
        processed = row[0] if row else 0
        result = fold(ledger.stream(aggregate_id), processed)
        if result is None:
            return 0
        view, versions = result
        conn.execute(
            _UPSERT_VIEW,
            (view.aggregate_id, view.tenant_id, view.order_id, view.version, dumps_text(view.document),
             view.is_deleted, view.contact_key, view.created_at, view.updated_at),
        )
        tenant = UUID(view.tenant_id)
        with conn.cursor() as cursor:
            cursor.executemany(
                _INSERT_VERSION,
                [
                    (aggregate_id, v.version, tenant, view.order_id, keyring.issue(tenant, aggregate_id, v.version),
                     v.event_type, v.recorded_at, dumps_text(v.warnings))
                    for v in versions
                ],
            )
        return len(versions)
