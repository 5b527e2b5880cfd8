"""The write side: order commands become events in the PostgreSQL event store.

Each verb loads, calls the aggregate, saves, and answers which version now holds
the result. Blocking (the eventsourcing library has no asyncio): the API calls
it from a worker thread.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError

from orderledger.domain.errors import OrderRejected
from orderledger.domain.ids import order_aggregate_id
from orderledger.domain.merge_patch import merge_patch
from orderledger.domain.model import normalise_document
from orderledger.domain.order import Document, Order
from orderledger.domain.tenant_config import TenantConfig
from orderledger.domain.validation import Violation, validate_change
from orderledger.infrastructure.crypto_shredding import SealsPersonalData, pending_subjects
from orderledger.infrastructure.group_commit import MAX_BATCH, GroupCommitter

# Concurrent writers to one order lose the race on the store's unique
# (stream, version) key; the loser reloads and reapplies its command.
MAX_CONFLICT_RETRIES = 20


class OrderExists(Exception):
    def __init__(self, order_id: str) -> None:
        super().__init__(f"order {order_id!r} already exists")
        self.order_id = order_id


class OrderNotFound(Exception):
    def __init__(self, order_id: str) -> None:
        super().__init__(f"order {order_id!r} not found")
        self.order_id = order_id


class VersionConflict(Exception):
    def __init__(self, order_id: str, expected: int, current: int) -> None:
        super().__init__(f"order {order_id!r} is at version {current}, not {expected}")
        self.order_id, self.expected, self.current = order_id, expected, current


@dataclass(frozen=True, slots=True)
class Committed:
    """Where a command left the order: `version` holds its result; `changed` is False for a no-op."""

    aggregate_id: UUID
    order_id: str
    version: int
    changed: bool


@dataclass(frozen=True, slots=True)
class _NewEvents:
    """One command's new events, waiting for a group commit, with whose personal data each holds."""

    events: tuple[Any, ...]
    subjects: dict[tuple[UUID, int], str | None]
    streams: frozenset[UUID]


class OrderLedger(SealsPersonalData, Application[UUID]):
    name = "OrderLedger"  # the store's table is orderledger_events; personal values in it are sealed
    _group: GroupCommitter[_NewEvents] | None = None

    def commit_in_groups(self, max_batch: int = MAX_BATCH) -> None:
        """From now on, concurrent saves (the API's command threads) share transactions: see group_commit."""
        self._group = GroupCommitter(self._commit_group, keys=lambda entry: entry.streams, max_batch=max_batch)

    def group_commit_counts(self) -> tuple[int, int]:
        """(transactions, commands) committed in groups so far: their ratio is the mean batch."""
        return (self._group.batches, self._group.saved) if self._group is not None else (0, 0)

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        if self._group is None or kwargs:
            return super().save(*objs, **kwargs)
        # Taken off the aggregates here, so a batch that fails can be committed again entry by entry.
        subjects = pending_subjects(objs)
        events = tuple(event for obj in objs if obj is not None for event in obj.collect_events())
        if events:
            self._group.commit(_NewEvents(events, subjects, frozenset(e.originator_id for e in events)))
        return None

    def _commit_group(self, entries: list[_NewEvents]) -> None:
        subjects: dict[tuple[UUID, int], str | None] = {}
        for entry in entries:
            subjects.update(entry.subjects)
        self.save_sealed([event for entry in entries for event in entry.events], subjects)

    def close(self) -> None:
        if self._group is not None:
            self._group.close()
        super().close()

    def register_order(
        self, tenant_id: str, order_id: str, document: Document, caused_by: dict[str, Any], config: TenantConfig
    ) -> Committed:
        _check(None, document, config)
        order = Order.register(tenant_id, order_id, document, caused_by)
        try:
            self.save(order)
        except IntegrityError:
            raise OrderExists(order_id) from None
        return Committed(order.id, order_id, order.version, changed=True)

    def replace_order(
        self, tenant_id: str, order_id: str, document: Document, caused_by: dict[str, Any], config: TenantConfig,
        expected_version: int | None = None,
    ) -> Committed:
        def replace(order: Order) -> None:
            _check(order.document, document, config)
            order.replace(document, caused_by)

        return self.change_order(tenant_id, order_id, replace, expected_version)

    def patch_order(
        self, tenant_id: str, order_id: str, patch: Document, caused_by: dict[str, Any], config: TenantConfig,
        expected_version: int | None = None,
    ) -> Committed:
        """Apply a JSON merge patch to the latest document; the result must be a valid order."""

        def apply_patch(order: Order) -> None:
            document = normalise_document(merge_patch(order.document, patch))
            _check(order.document, document, config)
            order.replace(document, caused_by)

        return self.change_order(tenant_id, order_id, apply_patch, expected_version)

    def change_status(
        self, tenant_id: str, order_id: str, changes: Document, caused_by: dict[str, Any], config: TenantConfig,
        expected_version: int | None = None,
    ) -> Committed:
        def change(order: Order) -> None:
            _check(order.document, {**order.document, **changes}, config)
            order.change_status(changes, caused_by)

        return self.change_order(tenant_id, order_id, change, expected_version)

    def change_delivery(
        self, tenant_id: str, order_id: str, delivery: Document, caused_by: dict[str, Any],
        expected_version: int | None = None,
    ) -> Committed:
        return self.change_order(
            tenant_id, order_id, lambda order: order.change_delivery(delivery, caused_by), expected_version
        )

    def delete_order(
        self, tenant_id: str, order_id: str, caused_by: dict[str, Any], expected_version: int | None = None
    ) -> Committed:
        return self.change_order(tenant_id, order_id, lambda order: order.delete(caused_by), expected_version)

    def change_order(
        self,
        tenant_id: str,
        order_id: str,
        command: Callable[[Order], None],
        expected_version: int | None = None,
    ) -> Committed:
        """Apply `command` to the latest order, retrying on a concurrent writer unless a version was expected."""
        aggregate_id = order_aggregate_id(tenant_id, order_id)
        for _ in range(MAX_CONFLICT_RETRIES):
            order = self.get_order(tenant_id, order_id)
            if expected_version is not None and order.version != expected_version:
                raise VersionConflict(order_id, expected_version, order.version)
            command(order)
            if not order.pending_events:
                return Committed(aggregate_id, order_id, order.version, changed=False)
            try:
                self.save(order)
            except IntegrityError:
                if expected_version is not None:
                    current = self.get_order(tenant_id, order_id).version
                    raise VersionConflict(order_id, expected_version, current) from None
                continue
            return Committed(aggregate_id, order_id, order.version, changed=True)
        raise RuntimeError(f"order {order_id!r}: gave up after {MAX_CONFLICT_RETRIES} concurrent conflicts")

    def get_order(self, tenant_id: str, order_id: str, version: int | None = None) -> Order:
        try:
            order = self.repository.get(order_aggregate_id(tenant_id, order_id), version=version)
        except AggregateNotFoundError:
            raise OrderNotFound(order_id) from None
        assert isinstance(order, Order)
        return order

    def stream(self, aggregate_id: UUID, after_version: int = 0) -> list[Order.Event]:
        """The order's events after a version, in version order."""
        return list(self.events.get(aggregate_id, gt=after_version))  # type: ignore[arg-type]


def _check(current: Document | None, new: Document, config: TenantConfig) -> None:
    """Refuse the change with every violation at once, or let it through."""
    violations: list[Violation] = validate_change(current, new, config)
    if current is not None and current.get("companyId") != new.get("companyId"):
        violations.append(Violation("/companyId", "company_id_immutable", "companyId cannot change after create"))
    if violations:
        raise OrderRejected(violations)
