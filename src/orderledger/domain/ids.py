"""Identities derived, never drawn: the same (tenant, orderId) always names the same stream."""

from __future__ import annotations

from uuid import UUID, uuid5

# Fixed forever: changing it would orphan every stored order stream.
ORDER_NAMESPACE = UUID("6b1f8f0e-3c55-4d1b-9a53-7f1e2a0c9d41")


def order_aggregate_id(tenant_id: str, order_id: str) -> UUID:
    """The event-stream id of an order: one per (tenant, orderId), stable across processes."""
    return uuid5(ORDER_NAMESPACE, f"{tenant_id}\x1f{order_id}")


def job_id(aggregate_id: UUID, version: int) -> str:
    """A job names the order version its command produced, so its status is derivable from the ledger."""
    # Only [A-Za-z0-9_-]: RQ uses the same id for its job record.
    return f"{aggregate_id.hex}_{version}"


def parse_job_id(value: str) -> tuple[UUID, int] | None:
    """The (aggregate id, version) a job id names, or None if it is not one of ours."""
    head, _, tail = value.partition("_")
    try:
        aggregate_id, version = UUID(head), int(tail)
    except ValueError:
        return None
    return (aggregate_id, version) if version > 0 else None
