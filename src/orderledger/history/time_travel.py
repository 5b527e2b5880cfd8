"""An order as it was: at version N, or at a moment in time, folded from its events.

Blocking (reads the event store through the ledger): call from a thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from orderledger.application import OrderLedger, OrderNotFound
from orderledger.domain.ids import order_aggregate_id
from orderledger.domain.order import Order


class VersionNotFound(Exception):
    def __init__(self, order_id: str, version: int, current: int) -> None:
        super().__init__(f"order {order_id!r} has no version {version}; its latest is {current}")
        self.order_id, self.version, self.current = order_id, version, current


class NotYetRegistered(Exception):
    def __init__(self, order_id: str, as_of: datetime, registered_at: datetime) -> None:
        super().__init__(f"order {order_id!r} was registered at {registered_at.isoformat()}, after {as_of.isoformat()}")
        self.order_id, self.as_of, self.registered_at = order_id, as_of, registered_at


@dataclass(frozen=True, slots=True)
class PastOrder:
    order: Any  # the Order aggregate as the version left it
    events: list[Order.Event]  # its first `version` events
    latest_version: int

    @property
    def version(self) -> int:
        return self.events[-1].originator_version

    @property
    def created_at(self) -> datetime:
        return self.events[0].timestamp

    @property
    def updated_at(self) -> datetime:
        return self.events[-1].timestamp


def fold_first(events: list[Order.Event], count: int) -> Any:
    """The order as its first `count` events leave it (pure)."""
    order: Any = None
    for event in events[:count]:
        order = event.mutate(order)
    return order


def version_at(events: list[Order.Event], as_of: datetime) -> int:
    """The last version recorded at or before `as_of`; 0 if none was (pure)."""
    version = 0
    for event in events:
        if event.timestamp > as_of:
            break
        version = event.originator_version
    return version


def stream_of(ledger: OrderLedger, tenant_id: str, order_id: str) -> list[Order.Event]:
    """Every event of the order, in version order; OrderNotFound if it has none."""
    events = ledger.stream(order_aggregate_id(tenant_id, order_id))
    if not events:
        raise OrderNotFound(order_id)
    return events


def order_at(events: list[Order.Event], order_id: str, *, version: int | None = None,
             as_of: datetime | None = None) -> PastOrder:
    """The order at `version`, or at `as_of` (the last version recorded by then)."""
    latest = events[-1].originator_version
    if as_of is not None:
        version = version_at(events, as_of)
        if version == 0:
            raise NotYetRegistered(order_id, as_of, events[0].timestamp)
    assert version is not None
    if not 1 <= version <= latest:
        raise VersionNotFound(order_id, version, latest)
    return PastOrder(fold_first(events, version), events[:version], latest)
