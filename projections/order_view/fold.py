"""The pure part of the projection: events in, rows out. No I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from orderledger.domain.order import Order
from orderledger.domain.personal_data import contact_key_of
from orderledger.domain.warnings import warnings_for


@dataclass(frozen=True, slots=True)
class VersionRow:
    version: int
    event_type: str
    recorded_at: datetime
    warnings: list[dict[str, str]]


@dataclass(frozen=True, slots=True)
class ViewRow:
    aggregate_id: UUID
    tenant_id: str
    order_id: str
    version: int
    document: dict[str, Any]
    is_deleted: bool
    contact_key: str | None
    created_at: datetime
    updated_at: datetime


def fold(events: list[Order.Event], after_version: int) -> tuple[ViewRow, list[VersionRow]] | None:
    """The order as of its last event, and a row for each version after `after_version`.

    `events` is the whole stream from version 1. None when there is nothing new.
    """
    if not events or events[-1].originator_version <= after_version:
        return None
    order: Any = None
    versions: list[VersionRow] = []
    for event in events:
        order = event.mutate(order)
        if event.originator_version > after_version:
            # The warnings of a version describe the order as that version left it.
            versions.append(
                VersionRow(event.originator_version, type(event).__name__, event.timestamp, warnings_for(order.document))
            )
    view = ViewRow(
        aggregate_id=order.id,
        tenant_id=order.tenant_id,
        order_id=order.order_id,
        version=order.version,
        document=order.document,
        is_deleted=order.is_deleted,
        contact_key=contact_key_of(order.document),  # None once erased: "[erased]" is nobody's key
        created_at=events[0].timestamp,
        updated_at=events[-1].timestamp,
    )
    return view, versions
