"""The body of a delivery: what happened, and the order exactly as the version it is about left it.

The order is read from the event store at that version, never from the
current view, so an order changed after an action was requested is still
delivered with the data the action was requested on. The body is built once,
at the first try, and kept: every try and every redelivery sends the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg

from orderledger.application import OrderLedger
from orderledger.domain.order import Order
from orderledger.domain.order_changes import ACTION
from orderledger.jsoncodec import dumps, loads_exact


@dataclass(frozen=True, slots=True)
class DeliveryFacts:
    delivery_id: UUID
    aggregate_id: UUID
    order_id: str
    version: int
    kind: str
    action_request_id: UUID | None
    sequence: int
    occurred_at: datetime


def build_body(conn: psycopg.Connection, ledger: OrderLedger, facts: DeliveryFacts) -> bytes:
    """The JSON body of a delivery (blocking: reads the event store and the version's tag)."""
    tag_row = conn.execute("SELECT version_tag FROM order_version WHERE aggregate_id = %s AND version = %s",
                           (facts.aggregate_id, facts.version)).fetchone()
    order = ledger.repository.get(facts.aggregate_id, version=facts.version)
    assert isinstance(order, Order)
    body: dict[str, Any] = {
        "deliveryId": str(facts.delivery_id),
        "event": facts.kind,
        "sequence": facts.sequence,
        "occurredAt": facts.occurred_at,
        "orderId": facts.order_id,
        "version": facts.version,
        "versionTag": tag_row[0] if tag_row else None,
    }
    if facts.kind == ACTION and facts.action_request_id is not None:
        body.update(_action(conn, facts.action_request_id))
    # A deleted order's data is not sent on: only the fact that it was deleted.
    body["order"] = None if order.is_deleted else {
        "orderId": facts.order_id, **order.document, "version": facts.version,
        "versionTag": body["versionTag"],
    }
    return dumps(body)


def _action(conn: psycopg.Connection, request_id: UUID) -> dict[str, Any]:
    row = conn.execute("SELECT action, language, data::text, requested_at FROM action_request WHERE action_request_id = %s",
                       (request_id,)).fetchone()
    action, language, data, requested_at = row
    return {"action": action, "language": language, "data": loads_exact(data) if data else None,
            "requestedAt": requested_at}
