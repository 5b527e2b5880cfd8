"""The pure part of the projection: events in, rows out. No I/O.

The order's document is rebuilt from the events' own data, as the Order
aggregate applies them (domain/order.py) but without its deep copies: the
aggregate must not share data with events it keeps and hands on, while a fold
only reads its events. So the fold copies just what it changes in place, the
document's top level and its list of lines, and shares every value below them
with the events. Rebuilding an Order object per stream made the fold about five
times slower, most of it deep-copying documents.

An event type without a rule here is folded by the aggregate itself, so a new
event never folds wrong; tests/unit/test_fold.py checks that every event type
has a rule and that the rules give what the aggregate gives.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import OriginatorIDError, OriginatorVersionError

from orderledger.domain.order import Document, Order
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
    if not all(type(event) in _RULES for event in events[1:]) or type(events[0]) is not Order.Registered:
        return fold_with_aggregate(events, after_version)
    first: Any = events[0]
    document = _registered(first.document)
    deleted = False
    versions: list[VersionRow] = []
    for expected, event in enumerate(events, start=first.originator_version):
        if expected > first.originator_version:
            if event.originator_version != expected:
                raise OriginatorVersionError(event.originator_version, expected)
            if event.originator_id != first.originator_id:
                raise OriginatorIDError(event.originator_id, first.originator_id)
            rule = _RULES[type(event)]
            if rule is None:
                deleted = True
            else:
                rule(document, event)
        if expected > after_version:
            # The warnings of a version describe the order as that version left it.
            versions.append(VersionRow(expected, type(event).__name__, event.timestamp, warnings_for(document)))
    return _view(events, first.tenant_id, first.order_id, document, deleted), versions


def fold_with_aggregate(events: list[Order.Event], after_version: int) -> tuple[ViewRow, list[VersionRow]] | None:
    """`fold` by rebuilding the Order aggregate: for event types without a rule, and the reference for the rules."""
    if not events or events[-1].originator_version <= after_version:
        return None
    order: Any = None
    versions: list[VersionRow] = []
    for event in events:
        order = event.mutate(order)
        if event.originator_version > after_version:
            versions.append(
                VersionRow(event.originator_version, type(event).__name__, event.timestamp, warnings_for(order.document))
            )
    return _view(events, order.tenant_id, order.order_id, order.document, order.is_deleted), versions


def _view(events: list[Order.Event], tenant_id: str, order_id: str, document: Document, deleted: bool) -> ViewRow:
    return ViewRow(
        aggregate_id=events[0].originator_id,
        tenant_id=tenant_id,
        order_id=order_id,
        version=events[-1].originator_version,
        document=document,
        is_deleted=deleted,
        contact_key=contact_key_of(document),  # None once erased: "[erased]" is nobody's key
        created_at=events[0].timestamp,
        updated_at=events[-1].timestamp,
    )


# -- how each event changes the document (as Order's @event methods do) -----------


def _registered(document: Document) -> Document:
    own = dict(document)
    if type(own.get("items")) is list:
        own["items"] = list(own["items"])
    return own


def _header_changed(document: Document, event: Any) -> None:
    _merge(document, event.changes)


def _delivery_changed(document: Document, event: Any) -> None:
    _merge(document, {"delivery": event.delivery})


def _line_added(document: Document, event: Any) -> None:
    if "items" not in document:
        document["items"] = []
    document["items"].insert(event.index, event.line)


def _line_changed(document: Document, event: Any) -> None:
    document["items"][event.index] = event.line


def _line_removed(document: Document, event: Any) -> None:
    del document["items"][event.index]


def _merge(document: Document, changes: Document) -> None:
    for key, value in changes.items():
        if value is None:
            document.pop(key, None)
        else:
            # The list of lines is the one thing line events change in place: the fold's own copy.
            document[key] = list(value) if key == "items" and type(value) is list else value


# For every event after the first (an order's first event is its Registered); None: the order is deleted.
_RULES: dict[type, Callable[[Document, Any], None] | None] = {
    Order.DetailsChanged: _header_changed,
    Order.StatusChanged: _header_changed,
    Order.DeliveryChanged: _delivery_changed,
    Order.LineAdded: _line_added,
    Order.LineChanged: _line_changed,
    Order.LineRemoved: _line_removed,
    Order.Deleted: None,
}
