"""Anchor of ingest: the raw rate of single-row INSERT + COMMIT into a table shaped like the event table.

`python -m tests.bench.insert_anchor DSN CONCURRENCY SECONDS STATE_BYTES` runs
an asyncpg loop per connection (each INSERT in its own implicit transaction,
so one round trip and one commit per row) and prints `BENCH {"rows", "seconds"}`.
No table lock: this is what PostgreSQL itself allows on this machine.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import uuid

import asyncpg

TABLE = "bench_raw_events"

# orderledger_events as eventsourcing.postgres creates it (PostgresApplicationRecorder).
DDL = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    originator_id uuid NOT NULL,
    originator_version bigint NOT NULL,
    topic text,
    state bytea,
    notification_id bigserial,
    PRIMARY KEY (originator_id, originator_version)
);
CREATE UNIQUE INDEX IF NOT EXISTS {TABLE}_notification_id_idx ON {TABLE} (notification_id ASC);
"""

_INSERT = f"INSERT INTO {TABLE} (originator_id, originator_version, topic, state) VALUES ($1, 1, $2, $3)"


async def _writer(conn: asyncpg.Connection, deadline: float, state: bytes, counts: list[int]) -> None:
    statement = await conn.prepare(_INSERT)
    while time.monotonic() < deadline:
        await statement.fetch(uuid.uuid4(), "orderledger.order.Registered", state)
        counts[0] += 1


async def run(dsn: str, concurrency: int, seconds: float, state_bytes: int) -> dict:
    state = os.urandom(state_bytes)
    counts = [0]
    # Connected before the clock starts, as the API's pools are.
    connections = await asyncio.gather(*(asyncpg.connect(dsn) for _ in range(concurrency)))
    try:
        started = time.monotonic()
        await asyncio.gather(*(_writer(conn, started + seconds, state, counts) for conn in connections))
        return {"rows": counts[0], "seconds": time.monotonic() - started}
    finally:
        await asyncio.gather(*(conn.close() for conn in connections))


if __name__ == "__main__":
    dsn, concurrency, seconds, state_bytes = sys.argv[1:5]
    print("BENCH " + json.dumps(asyncio.run(run(dsn, int(concurrency), float(seconds), int(state_bytes)))), flush=True)
