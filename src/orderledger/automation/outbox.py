"""Writing deliveries into the outbox, in the transaction of what causes them.

Two causes: an action request (the API's POST .../action, or an action
embedded in a create or replace), and the processing of new versions (order
change events). Both give each delivery the next sequence number of its
(subscription, order), so a receiver can order deliveries and spot a gap.

The statements use `$n` placeholders so the API (asyncpg) and the workers
(psycopg, through a RawCursor) run the very same SQL.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import psycopg

from orderledger.application import OrderLedger
from orderledger.domain.actions import action_request_id
from orderledger.domain.order_changes import OrderChange, order_changes
from orderledger.jsoncodec import dumps_text

INSERT_ACTION_REQUEST = """
INSERT INTO action_request (action_request_id, tenant_id, aggregate_id, order_id, version, action, language, data,
                            source, requested_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, coalesce($10::timestamptz, now()))
ON CONFLICT DO NOTHING
RETURNING action_request_id
"""

# Deliveries of one action request, one per subscription that wants the action; only once its version
# is processed (actions run only against a processed, tagged version), and only once (materialized_at).
MATERIALIZE_ACTION = """
WITH request AS (
    SELECT a.* FROM action_request a
    JOIN order_version v ON v.aggregate_id = a.aggregate_id AND v.version = a.version
    WHERE a.action_request_id = $1 AND a.materialized_at IS NULL
    FOR UPDATE OF a
), done AS (
    UPDATE action_request SET materialized_at = now()
    WHERE action_request_id IN (SELECT action_request_id FROM request)
), wanted AS (
    SELECT s.subscription_id FROM webhook_subscription s JOIN request r ON s.tenant_id = r.tenant_id
    WHERE s.removed_at IS NULL AND (r.action = ANY (s.actions) OR '*' = ANY (s.actions))
), seq AS (
    -- In subscription order, so two transactions numbering the same order never wait on each other in a cycle.
    INSERT INTO webhook_sequence AS q (subscription_id, aggregate_id, last)
    SELECT w.subscription_id, r.aggregate_id, 1 FROM wanted w, request r ORDER BY w.subscription_id
    ON CONFLICT (subscription_id, aggregate_id) DO UPDATE SET last = q.last + 1
    RETURNING q.subscription_id, q.last
)
INSERT INTO webhook_delivery (delivery_id, tenant_id, subscription_id, aggregate_id, order_id, version, kind,
                              action_request_id, sequence, occurred_at)
SELECT gen_random_uuid(), r.tenant_id, seq.subscription_id, r.aggregate_id, r.order_id, r.version, 'action',
       r.action_request_id, seq.last, r.requested_at
FROM seq, request r
ON CONFLICT DO NOTHING
RETURNING delivery_id
"""

# Deliveries of order changes: one per (change, subscription that wants its kind), numbered in version order.
_RECORD_CHANGES = """
WITH change AS (
    SELECT * FROM unnest($4::text[], $5::integer[], $6::timestamptz[]) AS c(kind, version, occurred_at)
), wanted AS (
    SELECT s.subscription_id, c.kind, c.version, c.occurred_at,
           row_number() OVER (PARTITION BY s.subscription_id ORDER BY c.version) AS n,
           count(*) OVER (PARTITION BY s.subscription_id) AS total
    FROM webhook_subscription s JOIN change c ON c.kind = ANY (s.events)
    WHERE s.tenant_id = $1 AND s.removed_at IS NULL
), seq AS (
    INSERT INTO webhook_sequence AS q (subscription_id, aggregate_id, last)
    SELECT DISTINCT subscription_id, $2::uuid, total FROM wanted ORDER BY subscription_id
    ON CONFLICT (subscription_id, aggregate_id) DO UPDATE SET last = q.last + EXCLUDED.last
    RETURNING q.subscription_id, q.last
)
INSERT INTO webhook_delivery (delivery_id, tenant_id, subscription_id, aggregate_id, order_id, version, kind,
                              sequence, occurred_at)
SELECT gen_random_uuid(), $1, w.subscription_id, $2, $3, w.version, w.kind, seq.last - w.total + w.n, w.occurred_at
FROM wanted w JOIN seq USING (subscription_id)
ON CONFLICT DO NOTHING
RETURNING delivery_id
"""

# The processed order, whether its tenant has any webhook at all (most do not: then nothing more is read),
# and the action requests that were waiting for one of its versions to be processed.
_PROCESSED_ORDER = """
SELECT v.tenant_id, v.order_id, v.version,
       EXISTS (SELECT 1 FROM webhook_subscription s WHERE s.tenant_id = v.tenant_id AND s.removed_at IS NULL),
       ARRAY (SELECT a.action_request_id FROM action_request a
              WHERE a.aggregate_id = v.aggregate_id AND a.materialized_at IS NULL AND a.version <= v.version)
FROM order_view v WHERE v.aggregate_id = $1
"""


def action_request_row(
    tenant_id: UUID, aggregate_id: UUID, order_id: str, version: int, action: str, language: str | None,
    data: dict[str, Any] | None, source: str, requested_at: Any = None,
) -> list[Any]:
    """The parameters of INSERT_ACTION_REQUEST; the row's id is derived from (order, version, action)."""
    return [action_request_id(aggregate_id, version, action), tenant_id, aggregate_id, order_id, version, action,
            language, None if data is None else dumps_text(data), source, requested_at]


# Of many processed orders, those that may cause a delivery: their tenant has a webhook, or an action
# request waits for one of their versions. Usually none, and then this one statement is all the outbox costs.
_MAY_DELIVER = """
SELECT v.aggregate_id FROM order_view v
WHERE v.aggregate_id = ANY($1::uuid[])
  AND (EXISTS (SELECT 1 FROM webhook_subscription s WHERE s.tenant_id = v.tenant_id AND s.removed_at IS NULL)
       OR EXISTS (SELECT 1 FROM action_request a
                  WHERE a.aggregate_id = v.aggregate_id AND a.materialized_at IS NULL AND a.version <= v.version))
"""


def record_processed_many(conn: psycopg.Connection, ledger: OrderLedger, processed: dict[UUID, int]) -> list[UUID]:
    """record_processed for many orders (versions processed per order), with one statement when none delivers."""
    if not processed:
        return []
    created: list[UUID] = []
    for (aggregate_id,) in _fetch(conn, _MAY_DELIVER, [list(processed)]):
        created += record_processed(conn, ledger, aggregate_id, processed[aggregate_id])
    return created


def record_processed(conn: psycopg.Connection, ledger: OrderLedger, aggregate_id: UUID, processed: int) -> list[UUID]:
    """Write the deliveries that the order's `processed` newest versions cause; returns their ids.

    Call it in the transaction that processed them, right after the projection
    (whose per-order lock it relies on): the deliveries commit with the versions
    or not at all. A projection rebuild does not call it, so replaying history
    never fires anything again.
    """
    if processed <= 0:
        return []
    [row] = _fetch(conn, _PROCESSED_ORDER, [aggregate_id]) or [None]
    if row is None:
        return []
    tenant_id, order_id, latest, has_webhooks, waiting = row
    created: list[UUID] = []
    if has_webhooks:
        changes = order_changes(ledger.stream(aggregate_id, after_version=latest - processed))
        created += _record_changes(conn, tenant_id, aggregate_id, order_id, changes)
        for change in changes:
            if change.embedded_action is not None:
                created += _record_embedded_action(conn, tenant_id, aggregate_id, order_id, change)
    for request_id in waiting:  # written by the API for a replace that changed nothing (rare)
        created += materialize(conn, request_id)
    return created


def materialize(conn: psycopg.Connection, request_id: UUID) -> list[UUID]:
    """Write the deliveries of an action request whose version is processed (nothing if it is not, or was done)."""
    return [row[0] for row in _fetch(conn, MATERIALIZE_ACTION, [request_id])]


def _record_changes(
    conn: psycopg.Connection, tenant_id: UUID, aggregate_id: UUID, order_id: str, changes: list[OrderChange]
) -> list[UUID]:
    if not changes:
        return []
    params = [tenant_id, aggregate_id, order_id, [c.kind for c in changes], [c.version for c in changes],
              [c.occurred_at for c in changes]]
    return [row[0] for row in _fetch(conn, _RECORD_CHANGES, params)]


def _record_embedded_action(
    conn: psycopg.Connection, tenant_id: UUID, aggregate_id: UUID, order_id: str, change: OrderChange
) -> list[UUID]:
    action: dict[str, Any] = change.embedded_action or {}
    row = action_request_row(tenant_id, aggregate_id, order_id, change.version, str(action.get("action")),
                             action.get("language"), action.get("data"), "embedded", change.occurred_at)
    _fetch(conn, INSERT_ACTION_REQUEST, row)
    # Also when the row was already there: the API writes it for a no-op replace before processing.
    return materialize(conn, row[0])


def _fetch(conn: psycopg.Connection, query: str, params: list[Any]) -> list[tuple[Any, ...]]:
    """Run a `$n`-placeholder statement (as asyncpg takes them) and fetch its rows."""
    with psycopg.RawCursor(conn) as cursor:
        # Its own (nested) pipeline block, whose end waits for the answer: in a caller's pipeline the
        # statement's description (does it return rows?) is not known until then.
        with conn.pipeline():
            cursor.execute(query, params)
        return cursor.fetchall() if cursor.description else []
