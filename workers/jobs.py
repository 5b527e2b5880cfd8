"""RQ jobs. Arguments are primitives (JSON serializer); each job is idempotent."""

from __future__ import annotations

import time
from uuid import UUID

from orderledger.automation.outbox import record_processed
from projections.order_view.updater import project_order as _project_order
from workers.context import current
from workers.deliveries import dispatch_new
from workers.failures import resolve_processed


def project_order(tenant_id: str, aggregate_id: str) -> int:
    """Fold the order's new events into the read models; returns how many versions this run processed."""
    context = current()
    order = UUID(aggregate_id)
    with context.pool.connection() as conn, conn.transaction():
        processed = _project_order(conn, context.ledger, context.keyring, order)
        # In the same transaction: a version is never both processed and still listed as failed.
        resolve_processed(conn, order)
        # Also in it: the webhooks these versions cause (an outbox: they commit with the versions or not at all).
        deliveries = record_processed(conn, context.ledger, order, processed)
        if context.slow_projection_seconds:
            time.sleep(context.slow_projection_seconds)  # fault tests kill the worker here, before the commit
    dispatch_new(deliveries, context.settings.queue_name)  # after the commit; the delivery sweep covers a failure
    return processed
