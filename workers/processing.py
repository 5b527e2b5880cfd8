"""Processing many orders at once: one transaction for all, one per order only when one of them fails.

The bulk transaction writes what a `project_order` job writes for each order
(views, tagged versions, resolved failures, outbox rows), with one statement
per step for all orders. If it fails because of an order (a bug its data
triggers), it is rolled back and each order is processed alone, so the others
still go through and the failing ones are named. A database error is not an
order's fault: it is raised, to be retried as a whole.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from uuid import UUID

import eventsourcing.persistence as es
import psycopg

from orderledger.application import OrderLedger
from orderledger.automation.outbox import record_processed, record_processed_many
from orderledger.domain.version_tag import TagKeyring
from projections.order_view.updater import project_order, project_orders
from workers.failures import resolve_processed, resolve_processed_many

# Errors of the database or the connection, not of an order: retry the whole, keep nothing half-done.
INFRASTRUCTURE_ERRORS = (psycopg.OperationalError, psycopg.InterfaceError, es.OperationalError, es.InterfaceError)


@dataclass
class Outcome:
    processed: dict[UUID, int] = field(default_factory=dict)  # versions processed, per order that had any
    failed: dict[UUID, Exception] = field(default_factory=dict)  # orders whose processing raised
    deliveries: list[UUID] = field(default_factory=list)  # outbox rows written, to dispatch after the commit

    @property
    def versions(self) -> int:
        return sum(self.processed.values())


def process_orders(conn: psycopg.Connection, ledger: OrderLedger, keyring: TagKeyring,
                   orders: Sequence[UUID], hold_seconds: float = 0.0) -> Outcome:
    """Process every given order up to its latest version; committed when this returns.

    `hold_seconds` keeps the transaction open before its commit: only for the
    fault tests, which kill a worker in mid-job.
    """
    outcome = Outcome()
    try:
        # A pipeline: statements go out together and wait for answers only where a result is needed
        # (the read of the streams, the outbox's check), so the transaction is about four round trips.
        with conn.pipeline(), conn.transaction():
            outcome.processed = project_orders(conn, ledger, keyring, orders)
            # In the same transaction: a version is never both processed and still listed as failed,
            resolve_processed_many(conn, list(outcome.processed))
            # and the webhooks these versions cause commit with them or not at all (an outbox).
            outcome.deliveries = record_processed_many(conn, ledger, outcome.processed)
            _hold(hold_seconds)
        return outcome
    except INFRASTRUCTURE_ERRORS:
        raise
    except Exception:
        outcome = Outcome()  # rolled back: nothing of the bulk attempt stands. Which order was it?
    for order in orders:  # find the culprit(s): each order alone
        try:
            processed, deliveries = process_order(conn, ledger, keyring, order, hold_seconds)
        except INFRASTRUCTURE_ERRORS:
            raise
        except Exception as error:
            outcome.failed[order] = error
            continue
        if processed:
            outcome.processed[order] = processed
        outcome.deliveries += deliveries
    return outcome


def process_order(conn: psycopg.Connection, ledger: OrderLedger, keyring: TagKeyring,
                  order: UUID, hold_seconds: float = 0.0) -> tuple[int, list[UUID]]:
    """One order in its own transaction: versions processed, and the outbox rows written."""
    with conn.transaction():
        processed = project_order(conn, ledger, keyring, order)
        resolve_processed(conn, order)
        deliveries = record_processed(conn, ledger, order, processed)
        _hold(hold_seconds)
        return processed, deliveries


def _hold(seconds: float) -> None:
    if seconds:
        time.sleep(seconds)  # fault tests kill the worker here, before the commit

