"""The Order aggregate and its events.

Every event class is declared explicitly with a stable TOPIC, so renaming or
moving Python code never changes what is stored; `class_version` plus an
`upcast_vN_vM` static method evolve a stored shape. Every event carries the
tenant and the command that caused it, so the history alone answers "who and
why". The aggregate holds the order document (a plain dict of exact values)
and knows nothing of storage, HTTP or clocks.
"""

from __future__ import annotations

from copy import deepcopy
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from orderledger.domain.errors import OrderDeleted

Document = dict[str, Any]


class Order(Aggregate):
    TOPIC = "orderledger.order.Order"

    class Event(Aggregate.Event):
        tenant_id: str
        caused_by: dict[str, Any]

    class Registered(Event, Aggregate.Created):
        """The order was created with its first document.

        v2 added `received_via`, the door the order came in by: "api" for HTTP
        commands; a bulk import names itself (e.g. "import:cloudsuite").
        """

        TOPIC = "orderledger.order.Registered"
        class_version = 2
        order_id: str
        document: Document
        received_via: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            # Every order of the first release came in through the API.
            state["received_via"] = "api"

    class DetailsChanged(Event):
        """Header fields were set (a value of None removes the field)."""

        TOPIC = "orderledger.order.DetailsChanged"
        changes: Document

    class LineAdded(Event):
        TOPIC = "orderledger.order.LineAdded"
        index: int
        line: Document

    class LineChanged(Event):
        TOPIC = "orderledger.order.LineChanged"
        index: int
        line: Document

    class LineRemoved(Event):
        TOPIC = "orderledger.order.LineRemoved"
        index: int

    class StatusChanged(Event):
        """One or more of status, externalStatus, paymentStatus, state, payment_status, shipment_state changed."""

        TOPIC = "orderledger.order.StatusChanged"
        changes: Document

    class DeliveryChanged(Event):
        TOPIC = "orderledger.order.DeliveryChanged"
        delivery: Document

    class Deleted(Event):
        TOPIC = "orderledger.order.Deleted"

    class Snapshot(Aggregate.Snapshot):
        TOPIC = "orderledger.order.Snapshot"

    # The library looks for a "Created" class; ours is named for what happened.
    Created = Registered

    @event(Registered)
    def __init__(
        self, tenant_id: str, order_id: str, document: Document, caused_by: dict[str, Any], received_via: str = "api"
    ) -> None:
        self.tenant_id = tenant_id
        self.order_id = order_id
        self.document = deepcopy(document)
        self.received_via = received_via
        self.is_deleted = False

    @staticmethod
    def create_id(tenant_id: str, order_id: str, **_: Any) -> UUID:  # type: ignore[override]
        from orderledger.domain.ids import order_aggregate_id

        return order_aggregate_id(tenant_id, order_id)

    @classmethod
    def register(cls, tenant_id: str, order_id: str, document: Document, caused_by: dict[str, Any]) -> Order:
        return cls(tenant_id=tenant_id, order_id=order_id, document=document, caused_by=caused_by)

    # -- commands: each compares and only records what really changes --------

    def change_details(self, changes: Document, caused_by: dict[str, Any]) -> None:
        self._ensure_live()
        real = {k: v for k, v in changes.items() if self.document.get(k) != v}
        if real:
            self.trigger_event(self.DetailsChanged, tenant_id=self.tenant_id, caused_by=caused_by, changes=real)

    def change_status(self, changes: Document, caused_by: dict[str, Any]) -> None:
        self._ensure_live()
        real = {k: v for k, v in changes.items() if self.document.get(k) != v}
        if real:
            self.trigger_event(self.StatusChanged, tenant_id=self.tenant_id, caused_by=caused_by, changes=real)

    def change_delivery(self, delivery: Document, caused_by: dict[str, Any]) -> None:
        self._ensure_live()
        if self.document.get("delivery") != delivery:
            self.trigger_event(self.DeliveryChanged, tenant_id=self.tenant_id, caused_by=caused_by, delivery=delivery)

    def replace(self, document: Document, caused_by: dict[str, Any]) -> None:
        """Make the document equal `document`: header changes and each line change become their own events."""
        self._ensure_live()
        header_now = {k: v for k, v in self.document.items() if k != "items"}
        header_new = {k: v for k, v in document.items() if k != "items"}
        changes = {k: v for k, v in header_new.items() if header_now.get(k) != v}
        changes.update({k: None for k in header_now if k not in header_new})
        if changes:
            self.trigger_event(self.DetailsChanged, tenant_id=self.tenant_id, caused_by=caused_by, changes=changes)
        self._replace_lines(document.get("items", []), caused_by)

    def delete(self, caused_by: dict[str, Any]) -> None:
        self._ensure_live()
        self.trigger_event(self.Deleted, tenant_id=self.tenant_id, caused_by=caused_by)

    def _replace_lines(self, new_lines: list[Document], caused_by: dict[str, Any]) -> None:
        old_lines = self.document.get("items", [])
        for index, line in enumerate(new_lines):
            if index >= len(old_lines):
                self.trigger_event(self.LineAdded, tenant_id=self.tenant_id, caused_by=caused_by, index=index, line=line)
            elif old_lines[index] != line:
                self.trigger_event(self.LineChanged, tenant_id=self.tenant_id, caused_by=caused_by, index=index, line=line)
        # Remove from the end so the remaining indexes stay valid while applying.
        for index in range(len(old_lines) - 1, len(new_lines) - 1, -1):
            self.trigger_event(self.LineRemoved, tenant_id=self.tenant_id, caused_by=caused_by, index=index)

    def _ensure_live(self) -> None:
        if self.is_deleted:
            raise OrderDeleted(self.order_id)

    # -- how each event changes the state ------------------------------------

    @event(DetailsChanged)
    def _apply_details(self, changes: Document, tenant_id: str, caused_by: dict[str, Any]) -> None:
        _merge_fields(self.document, changes)

    @event(StatusChanged)
    def _apply_status(self, changes: Document, tenant_id: str, caused_by: dict[str, Any]) -> None:
        _merge_fields(self.document, changes)

    @event(DeliveryChanged)
    def _apply_delivery(self, delivery: Document, tenant_id: str, caused_by: dict[str, Any]) -> None:
        _merge_fields(self.document, {"delivery": delivery})

    @event(LineAdded)
    def _apply_line_added(self, index: int, line: Document, tenant_id: str, caused_by: dict[str, Any]) -> None:
        self.document.setdefault("items", []).insert(index, deepcopy(line))

    @event(LineChanged)
    def _apply_line_changed(self, index: int, line: Document, tenant_id: str, caused_by: dict[str, Any]) -> None:
        self.document["items"][index] = deepcopy(line)

    @event(LineRemoved)
    def _apply_line_removed(self, index: int, tenant_id: str, caused_by: dict[str, Any]) -> None:
        del self.document["items"][index]

    @event(Deleted)
    def _apply_deleted(self, tenant_id: str, caused_by: dict[str, Any]) -> None:
        self.is_deleted = True


def _merge_fields(document: Document, changes: Document) -> None:
    for key, value in changes.items():
        if value is None:
            document.pop(key, None)
        else:
            document[key] = deepcopy(value)
