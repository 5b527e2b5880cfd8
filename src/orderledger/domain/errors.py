"""Domain errors: named, so the API maps each to one problem code in one place."""

from __future__ import annotations


class DomainError(Exception):
    """A command the ledger refuses for a business reason."""


class OrderDeleted(DomainError):
    def __init__(self, order_id: str) -> None:
        super().__init__(f"order {order_id!r} has been deleted")
        self.order_id = order_id


class OrderRejected(DomainError):
    """The order breaks one or more rules; every violation is listed, not just the first."""

    def __init__(self, violations: list) -> None:  # list[Violation]; untyped to keep this module import-free
        super().__init__(f"{len(violations)} rule violation(s)")
        self.violations = violations
