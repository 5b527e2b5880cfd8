"""RQ jobs. Arguments are primitives (JSON serializer); each job is idempotent."""

from __future__ import annotations

from uuid import UUID

from projections.order_view.updater import project_order as _project_order
from workers.context import current


def project_order(tenant_id: str, aggregate_id: str) -> int:
    """Fold the order's new events into the read models; returns how many versions this run processed."""
    context = current()
    with context.pool.connection() as conn:
        return _project_order(conn, context.ledger, context.keyring, UUID(aggregate_id))
