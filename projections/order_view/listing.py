"""Lists of orders for the API (asyncpg): a contact's orders (offset paging, Voyado style) and
filtered lists for integrators (keyset paging, correct while orders change)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from orderledger.jsoncodec import loads_exact

_COLUMNS = """
    v.aggregate_id, v.order_id, v.version, t.version_tag, v.document::text AS document, v.created_at, v.updated_at
"""
_FROM = """
    FROM order_view v JOIN order_version t ON t.aggregate_id = v.aggregate_id AND t.version = v.version
"""


@dataclass(frozen=True)
class OrderFilter:
    """Integrator filters; every field optional. Dates compare with the order's own dates."""

    status: str | None = None
    state: str | None = None
    payment_status: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    confirmed_from: datetime | None = None
    confirmed_to: datetime | None = None
    updated_since: datetime | None = None
    reference: str | None = None
    erp_order_number: str | None = None
    contact_key: str | None = None

    def is_empty(self) -> bool:
        return all(getattr(self, f.name) is None for f in fields(self))


# (SQL condition with {} for the parameter, attribute) in a fixed order.
_CONDITIONS = [
    ("v.document->>'status' = {}", "status"),
    ("v.document->>'state' = {}", "state"),
    ("(v.document->>'paymentStatus' = {0} OR v.document->>'payment_status' = {0})", "payment_status"),
    ("coalesce((v.document->>'createdDate')::timestamptz, v.created_at) >= {}", "created_from"),
    ("coalesce((v.document->>'createdDate')::timestamptz, v.created_at) < {}", "created_to"),
    ("(v.document->>'confirm_date')::timestamptz >= {}", "confirmed_from"),
    ("(v.document->>'confirm_date')::timestamptz < {}", "confirmed_to"),
    ("v.updated_at >= {}", "updated_since"),
    ("(v.document->>'reference' = {0} OR v.document->'references' ? {0})", "reference"),
    ("v.document->>'erp_order_number' = {}", "erp_order_number"),
    ("v.contact_key = {}", "contact_key"),
]


def _where(tenant_id: UUID, wanted: OrderFilter) -> tuple[str, list[Any]]:
    clauses, params = ["v.tenant_id = $1", "NOT v.is_deleted"], [tenant_id]
    for condition, name in _CONDITIONS:
        value = getattr(wanted, name)
        if value is not None:
            params.append(value)
            clauses.append(condition.format(f"${len(params)}"))
    return " AND ".join(clauses), params


def _row(row: asyncpg.Record) -> dict[str, Any]:
    return {"orderId": row["order_id"], **loads_exact(row["document"]), "version": row["version"],
            "versionTag": row["version_tag"], "createdAt": row["created_at"], "updatedAt": row["updated_at"]}


async def contact_orders(pool: asyncpg.Pool, tenant_id: UUID, contact_key: str, offset: int, count: int) -> tuple[int, list[dict[str, Any]]]:
    """(total, one page) of a contact's live orders, newest first."""
    where, params = _where(tenant_id, OrderFilter(contact_key=contact_key))
    total = await pool.fetchval(f"SELECT count(*) FROM order_view v WHERE {where}", *params)
    rows = await pool.fetch(
        f"SELECT {_COLUMNS} {_FROM} WHERE {where} ORDER BY v.created_at DESC, v.aggregate_id DESC "
        f"OFFSET ${len(params) + 1} LIMIT ${len(params) + 2}",
        *params, offset, count,
    )
    return total, [_row(r) for r in rows]


async def list_orders(
    pool: asyncpg.Pool, tenant_id: UUID, wanted: OrderFilter, cursor: str | None, count: int
) -> tuple[list[dict[str, Any]], str | None]:
    """One page and the cursor of the next (None at the end).

    With `updated_since` the list runs oldest change first, so a poller that
    follows the cursor sees every change, including orders changed while it
    pages (they move to the end). Otherwise newest created first.
    """
    where, params = _where(tenant_id, wanted)
    by_update = wanted.updated_since is not None
    key, direction, compare = ("v.updated_at", "ASC", ">") if by_update else ("v.created_at", "DESC", "<")
    if cursor is not None:
        at, aggregate = decode_cursor(cursor)
        params += [at, aggregate]
        where += f" AND ({key}, v.aggregate_id) {compare} (${len(params) - 1}, ${len(params)})"
    rows = await pool.fetch(
        f"SELECT {_COLUMNS} {_FROM} WHERE {where} ORDER BY {key} {direction}, v.aggregate_id {direction} "
        f"LIMIT ${len(params) + 1}",
        *params, count + 1,
    )
    page = rows[:count]
    next_cursor = None
    if len(rows) > count:
        last = page[-1]
        next_cursor = encode_cursor(last["updated_at"] if by_update else last["created_at"], last["aggregate_id"])
    return [_row(r) for r in page], next_cursor


def encode_cursor(at: datetime, aggregate_id: UUID) -> str:
    return base64.urlsafe_b64encode(json.dumps([at.isoformat(), str(aggregate_id)]).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    """Raises ValueError for anything that is not a cursor we made."""
    try:
        at, aggregate = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return datetime.fromisoformat(at), UUID(aggregate)
    except (ValueError, TypeError) as error:
        raise ValueError("not a cursor") from error
