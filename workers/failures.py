"""Projection failures, kept in PostgreSQL so a Failed job stays answerable after RQ forgets it.

A failure is recorded for an order version when nobody will try it again:
RQ's retries are exhausted, or the sweeper's attempt failed with no RQ job
left to retry it. Any later processing of the version resolves it.
"""

from __future__ import annotations

import logging
import traceback
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any
from uuid import UUID

import psycopg
from redis import Redis
from redis.exceptions import RedisError
from rq.job import Job

from orderledger.domain.ids import job_id, parse_job_id
from orderledger.infrastructure.event_reads import EVENTS_TABLE
from workers.context import current

log = logging.getLogger("orderledger.failures")

# Enough for a deep traceback; a runaway message must not bloat the table.
MAX_ERROR_CHARS = 8000

# A version processed meanwhile (by the sweeper, or by this very job before its
# Redis bookkeeping failed) is not a failure, whatever the caller saw.
_RECORD = """
INSERT INTO projection_failure AS f (aggregate_id, version, tenant_id, error, attempts)
SELECT %(aggregate_id)s, v, %(tenant_id)s, %(error)s, %(attempts)s
FROM unnest(%(versions)s::integer[]) AS v
WHERE NOT EXISTS (SELECT 1 FROM order_version o WHERE o.aggregate_id = %(aggregate_id)s AND o.version = v)
ON CONFLICT (aggregate_id, version) DO UPDATE SET
    error = EXCLUDED.error, attempts = f.attempts + EXCLUDED.attempts, failed_at = now(), resolved_at = NULL
"""

_RESOLVE = """
UPDATE projection_failure SET resolved_at = now()
WHERE aggregate_id = %(aggregate_id)s AND resolved_at IS NULL
  AND version <= (SELECT version FROM order_view WHERE aggregate_id = %(aggregate_id)s)
"""

_UNRESOLVED = f"""
SELECT f.aggregate_id, f.version, f.tenant_id, t.name,
       (SELECT convert_from(e.state, 'UTF8')::jsonb ->> 'order_id' FROM {EVENTS_TABLE} e
        WHERE e.originator_id = f.aggregate_id AND e.originator_version = 1) AS order_id,
       f.error, f.attempts, f.failed_at
FROM projection_failure f LEFT JOIN tenant t ON t.tenant_id = f.tenant_id
WHERE f.resolved_at IS NULL
  AND NOT EXISTS (SELECT 1 FROM order_version v WHERE v.aggregate_id = f.aggregate_id AND v.version = f.version)
  AND (%(tenant)s::text IS NULL OR t.name = %(tenant)s)
  AND (%(aggregate_id)s::uuid IS NULL OR (f.aggregate_id = %(aggregate_id)s AND f.version = %(version)s))
ORDER BY f.failed_at, f.aggregate_id, f.version
"""


@dataclass(frozen=True, slots=True)
class FailedJob:
    aggregate_id: UUID
    version: int
    tenant_id: UUID
    tenant: str | None
    order_id: str | None
    error: str
    attempts: int
    failed_at: datetime

    @property
    def job_id(self) -> str:
        return job_id(self.aggregate_id, self.version)

    @property
    def summary(self) -> str:
        return summary_line(self.error)


def describe(exc_type: type[BaseException], exc_value: BaseException, tb: Any = None) -> str:
    """The error as stored: its one-line summary first, then the traceback when there is one."""
    summary = traceback.format_exception_only(exc_type, exc_value)[0].strip()
    if isinstance(tb, TracebackType):
        summary += "\n\n" + "".join(traceback.format_exception(exc_type, exc_value, tb)).strip()
    return summary[:MAX_ERROR_CHARS]


def summary_line(error: str) -> str:
    """The line that names the error ("ValueError: ..."), as job status and the CLI show it."""
    return error.split("\n", 1)[0]


def record_failure(
    conn: psycopg.Connection, tenant_id: UUID, aggregate_id: UUID, versions: list[int], error: str, attempts: int
) -> None:
    with conn.transaction():
        conn.execute(_RECORD, {"aggregate_id": aggregate_id, "tenant_id": tenant_id, "versions": versions,
                               "error": error, "attempts": attempts})


_RESOLVE_MANY = """
UPDATE projection_failure f SET resolved_at = now()
FROM order_view v
WHERE f.aggregate_id = ANY(%(orders)s) AND f.resolved_at IS NULL
  AND v.aggregate_id = f.aggregate_id AND f.version <= v.version
"""


def resolve_processed_many(conn: psycopg.Connection, aggregate_ids: list[UUID]) -> None:
    """resolve_processed for many orders in one statement."""
    if aggregate_ids:
        conn.execute(_RESOLVE_MANY, {"orders": aggregate_ids})


def resolve_processed(conn: psycopg.Connection, aggregate_id: UUID) -> None:
    """Mark the order's failures at or below its processed version resolved (call in the processing transaction)."""
    conn.execute(_RESOLVE, {"aggregate_id": aggregate_id})


def unresolved_failures(
    conn: psycopg.Connection, *, tenant: str | None = None, job: tuple[UUID, int] | None = None
) -> list[FailedJob]:
    """Failed versions that are still unprocessed, oldest first; of one tenant (by name) or one job if given."""
    aggregate_id, version = job or (None, None)
    rows = conn.execute(_UNRESOLVED, {"tenant": tenant, "aggregate_id": aggregate_id, "version": version}).fetchall()
    return [FailedJob(*row) for row in rows]


def on_projection_failure(
    job: Job, connection: Redis, exc_type: type[BaseException], exc_value: BaseException, tb: Any
) -> None:
    """RQ `on_failure` of project_order (by dotted path).

    RQ calls it after every failed attempt, and for a job whose worker died,
    before it decides whether to retry (rq/worker/base.py perform_job,
    rq/registry.py StartedJobRegistry.cleanup). So it counts every attempt but
    records only the one after which no retry is left. It never raises: RQ
    would report our error instead of the job's.
    """
    attempts = int(job.meta.get("attempts", 0)) + 1
    job.meta["attempts"] = attempts
    with suppress(RedisError):
        job.save_meta()
    if job.should_retry:
        return
    parsed = parse_job_id(job.id)
    if parsed is None:
        return
    aggregate_id, version = parsed
    try:
        tenant_id = UUID(str(job.args[0]))
        with current().pool.connection() as conn:
            record_failure(conn, tenant_id, aggregate_id, [version], describe(exc_type, exc_value, tb), attempts)
    except Exception:
        log.exception("could not record the failure of job %s; RQ's failed registry still has it", job.id)
        return
    log.warning("job %s failed after %d attempts: %s", job.id, attempts, describe(exc_type, exc_value))
