"""What subscribers hear about processed versions: one change per command, not one per event.

A replace that changes the header and three lines commits four events (four
versions); a receiver wants one "order.updated" for it, about the version the
command left. The events of one command are consecutive and carry the same
`caused_by` (the request that made them), so consecutive events with equal
`caused_by` are one change. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from orderledger.domain.order import Order

ORDER_CREATED = "order.created"
ORDER_UPDATED = "order.updated"
ORDER_STATUS_CHANGED = "order.status_changed"
ORDER_DELETED = "order.deleted"
ORDER_CHANGE_KINDS = (ORDER_CREATED, ORDER_UPDATED, ORDER_STATUS_CHANGED, ORDER_DELETED)
ACTION = "action"

# A change to any of these is a status change (Voyado's, vCX's and CloudSuite's status fields).
STATUS_FIELDS = frozenset({"status", "externalStatus", "paymentStatus", "state", "payment_status", "shipment_state"})

# Where a create or replace keeps its embedded action: in the command's caused_by, committed with its events.
EMBEDDED_ACTION_KEY = "action"


@dataclass(frozen=True, slots=True)
class OrderChange:
    kind: str
    version: int  # the version the command left
    occurred_at: datetime  # when its last event was recorded
    embedded_action: dict[str, Any] | None  # {"id", "action", "language", "data"} from a create or replace


def order_changes(events: list[Order.Event]) -> list[OrderChange]:
    """The changes that consecutive `events` (in version order, whole commands) make, oldest first."""
    changes: list[OrderChange] = []
    group: list[Order.Event] = []
    for event in events:
        if group and event.caused_by != group[-1].caused_by:
            changes.append(_change(group))
            group = []
        group.append(event)
    if group:
        changes.append(_change(group))
    return changes


def _change(group: list[Order.Event]) -> OrderChange:
    last = group[-1]
    action = last.caused_by.get(EMBEDDED_ACTION_KEY)
    return OrderChange(_kind(group), last.originator_version, last.timestamp, action if isinstance(action, dict) else None)


def _kind(group: list[Order.Event]) -> str:
    if any(isinstance(event, Order.Registered) for event in group):
        return ORDER_CREATED
    if any(isinstance(event, Order.Deleted) for event in group):
        return ORDER_DELETED
    for event in group:
        if isinstance(event, Order.StatusChanged):
            return ORDER_STATUS_CHANGED
        if isinstance(event, Order.DetailsChanged) and STATUS_FIELDS & event.changes.keys():
            return ORDER_STATUS_CHANGED
    return ORDER_UPDATED
