"""Reads of the order view for the API (asyncpg). Every query is scoped to a tenant."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
import msgspec

from orderledger.jsoncodec import loads_exact


@dataclass(frozen=True, slots=True)
class ProcessedOrder:
    order_id: str
    version: int
    version_tag: str
    document: dict[str, Any]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ProcessedVersion:
    order_id: str
    version: int
    version_tag: str
    recorded_at: datetime
    processed_at: datetime
    warnings: list[dict[str, str]]


async def processed_order(pool: asyncpg.Pool, tenant_id: UUID, order_id: str) -> ProcessedOrder | None:
    """The latest processed version of a live order, or None (unknown, deleted, or not yet processed)."""
    row = await pool.fetchrow(
        """
        SELECT v.order_id, v.version, t.version_tag, v.document::text AS document, v.created_at, v.updated_at
        FROM order_view v JOIN order_version t ON t.aggregate_id = v.aggregate_id AND t.version = v.version
        WHERE v.tenant_id = $1 AND v.order_id = $2 AND NOT v.is_deleted
        """,
        tenant_id,
        order_id,
    )
    return None if row is None else processed_order_from(row)


def processed_order_from(row: asyncpg.Record) -> ProcessedOrder:
    """A row with order_id, version, version_tag, document (as text), created_at and updated_at."""
    # Decoded from text so numbers stay exact decimals rather than floats.
    document = loads_exact(row["document"])
    return ProcessedOrder(row["order_id"], row["version"], row["version_tag"], document, row["created_at"], row["updated_at"])


async def processed_version(pool: asyncpg.Pool, tenant_id: UUID, aggregate_id: UUID, version: int) -> ProcessedVersion | None:
    row = await pool.fetchrow(
        """
        SELECT order_id, version, version_tag, recorded_at, processed_at, warnings::text AS warnings
        FROM order_version WHERE tenant_id = $1 AND aggregate_id = $2 AND version = $3
        """,
        tenant_id,
        aggregate_id,
        version,
    )
    if row is None:
        return None
    return ProcessedVersion(
        row["order_id"], row["version"], row["version_tag"], row["recorded_at"], row["processed_at"],
        msgspec.json.decode(row["warnings"]),
    )
