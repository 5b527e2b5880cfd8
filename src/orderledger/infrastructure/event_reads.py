"""Direct, read-only lookups in the event store table for the API (asyncpg).

Used where the read models cannot answer yet: a job whose version is committed
but not processed. Relies on the store keeping event state as plain JSON.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import asyncpg

EVENTS_TABLE = "orderledger_events"


@dataclass(frozen=True, slots=True)
class CommittedVersion:
    tenant_id: UUID
    order_id: str
    version: int
    recorded_at: datetime


async def committed_version(pool: asyncpg.Pool, aggregate_id: UUID, version: int) -> CommittedVersion | None:
    """Tenant, orderId and time of a committed version, straight from the ledger."""
    rows = await pool.fetch(
        f"""
        SELECT originator_version AS version, convert_from(state, 'UTF8')::jsonb AS state
        FROM {EVENTS_TABLE} WHERE originator_id = $1 AND originator_version IN (1, $2)
        ORDER BY originator_version
        """,
        aggregate_id,
        version,
    )
    if len(rows) != (1 if version == 1 else 2):
        return None

    first, last = json.loads(rows[0]["state"]), json.loads(rows[-1]["state"])
    return CommittedVersion(
        tenant_id=UUID(last["tenant_id"]),
        order_id=first["order_id"],
        version=version,
        recorded_at=datetime.fromisoformat(last["timestamp"]["_data_"]),
    )
