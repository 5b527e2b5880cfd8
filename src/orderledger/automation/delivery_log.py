"""Reading the delivery log and sending a dead delivery again (the API with asyncpg, the CLI with psycopg)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import psycopg

# Every delivery of an order with every try it took, oldest first.
ORDER_LOG = """
SELECT d.delivery_id, d.subscription_id, s.url, d.kind, a.action, d.version, d.sequence, d.status, d.attempts,
       d.created_at, CASE WHEN d.status = 'pending' THEN d.next_attempt_at END AS next_attempt_at,
       d.delivered_at, d.dead_at, d.last_status_code, d.last_error,
       coalesce((SELECT json_agg(json_build_object('attempt', t.attempt, 'statusCode', t.status_code,
                                                   'latencyMs', t.latency_ms, 'error', t.error, 'at', t.attempted_at)
                                 ORDER BY t.attempt)
                 FROM webhook_attempt t WHERE t.delivery_id = d.delivery_id), '[]')::text AS tries
FROM webhook_delivery d
JOIN webhook_subscription s ON s.subscription_id = d.subscription_id
LEFT JOIN action_request a ON a.action_request_id = d.action_request_id
WHERE d.tenant_id = $1 AND d.order_id = $2
ORDER BY d.created_at, d.sequence, d.delivery_id
LIMIT $3 OFFSET $4
"""

# Dead -> pending again, with a fresh round of tries; the same id and body, so receivers can de-duplicate.
REDELIVER = """
UPDATE webhook_delivery SET status = 'pending', round_attempts = 0, next_attempt_at = now(), dead_at = NULL
WHERE delivery_id = $1 AND status = 'dead'
  AND ($2::uuid IS NULL OR tenant_id = $2) AND ($3::text IS NULL OR order_id = $3)
RETURNING attempts
"""

STATUS_OF = """
SELECT status FROM webhook_delivery
WHERE delivery_id = $1 AND ($2::uuid IS NULL OR tenant_id = $2) AND ($3::text IS NULL OR order_id = $3)
"""

DEAD = """
SELECT d.delivery_id, t.name, d.order_id, d.kind, d.attempts, d.last_error, d.dead_at
FROM webhook_delivery d LEFT JOIN tenant t ON t.tenant_id = d.tenant_id
WHERE d.status = 'dead' AND ($1::text IS NULL OR t.name = $1)
ORDER BY d.dead_at, d.delivery_id
"""


def log_entry(row: Any, tries: list[dict[str, Any]]) -> dict[str, Any]:
    (delivery_id, subscription_id, url, kind, action, version, sequence, status, attempts, created_at,
     next_attempt_at, delivered_at, dead_at, last_status_code, last_error, _) = tuple(row)
    return {
        "deliveryId": delivery_id, "subscriptionId": subscription_id, "url": url, "event": kind, "action": action,
        "version": version, "sequence": sequence, "status": status, "attemptCount": attempts,
        "createdAt": created_at, "nextAttemptAt": next_attempt_at, "deliveredAt": delivered_at, "deadAt": dead_at,
        "lastStatusCode": last_status_code, "lastError": last_error, "attempts": tries,
    }


class DeliveryNotFound(Exception):
    pass


class DeliveryNotDead(Exception):
    def __init__(self, status: str) -> None:
        super().__init__(f"the delivery is {status}, not dead")
        self.status = status


def redeliver(conn: psycopg.Connection, delivery_id: UUID) -> int:
    """Make a dead delivery pending again (the CLI's side); returns the number of its next try."""
    with conn.transaction():
        cursor = psycopg.RawCursor(conn)
        row = cursor.execute(REDELIVER, [delivery_id, None, None]).fetchone()
        if row is None:
            found = cursor.execute(STATUS_OF, [delivery_id, None, None]).fetchone()
            raise DeliveryNotDead(found[0]) if found else DeliveryNotFound(str(delivery_id))
    return row[0] + 1


def dead_deliveries(conn: psycopg.Connection, tenant: str | None) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in psycopg.RawCursor(conn).execute(DEAD, [tenant]).fetchall()]
