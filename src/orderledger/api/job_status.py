"""Job status, derived: the ledger says what was committed, the read models what was processed,
the failure record what failed for good, RQ only what is in flight. So a job stays answerable
after RQ has forgotten it, and while Redis is down."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
from redis.exceptions import RedisError

from orderledger.api.action_jobs import action_job_status
from orderledger.api.services import ApiServices
from orderledger.domain.actions import ACTION_JOB_PREFIX
from orderledger.domain.ids import parse_job_id
from orderledger.infrastructure.event_reads import committed_version
from orderledger.tenancy import Tenant
from projections.order_view.queries import processed_version

log = logging.getLogger("orderledger.api")

QUEUED, PROCESSING, COMPLETED, COMPLETED_WITH_ERRORS, FAILED = (
    "Queued", "Processing", "Completed", "CompletedWithErrors", "Failed",
)
FINISHED = {COMPLETED, COMPLETED_WITH_ERRORS, FAILED}

# RQ states in which RQ will still run the job: a retry under way outranks an earlier recorded failure.
_RQ_PENDING = {b"queued": QUEUED, b"scheduled": QUEUED, b"deferred": QUEUED, b"started": PROCESSING}


async def job_status(services: ApiServices, tenant: Tenant, job: str) -> dict[str, Any] | None:
    """The job's status document, or None if this tenant has no such job."""
    if job.startswith(ACTION_JOB_PREFIX):  # an action's job: answered from its delivery rows
        return await action_job_status(services.pool, tenant, job)
    parsed = parse_job_id(job)
    if parsed is None:
        return None
    aggregate_id, version = parsed
    processed = await processed_version(services.pool, tenant.tenant_id, aggregate_id, version)
    if processed is not None:
        return {
            "jobId": job,
            "status": COMPLETED_WITH_ERRORS if processed.warnings else COMPLETED,
            "orderId": processed.order_id,
            "version": version,
            "versionTag": processed.version_tag,
            "errors": [],
            "warnings": processed.warnings,
            "createdAt": processed.recorded_at,
            "startedAt": None,
            "endedAt": processed.processed_at,
        }
    committed = await committed_version(services.pool, aggregate_id, version)
    if committed is None or committed.tenant_id != tenant.tenant_id:
        return None
    rq_status, started_at, ended_at = await _rq_state(services, job)
    status, errors, ended = _RQ_PENDING.get(rq_status or b"", QUEUED), [], None
    if rq_status not in _RQ_PENDING:
        failure = await _recorded_failure(services.pool, aggregate_id, version)
        if failure is not None:
            status, ended = FAILED, failure["failed_at"]
            errors = [{"code": "processing_failed", "detail": failure["error"].split("\n", 1)[0]}]
        elif rq_status == b"failed":  # RQ failed it but the record is missing (PostgreSQL was down then)
            status, ended = FAILED, ended_at.decode() if ended_at else None
            errors = [{"code": "processing_failed", "detail": "processing failed after every retry"}]
    return {
        "jobId": job,
        "status": status,
        "orderId": committed.order_id,
        "version": version,
        "versionTag": None,
        "errors": errors,
        "warnings": [],
        "createdAt": committed.recorded_at,
        "startedAt": started_at.decode() if started_at else None,
        "endedAt": ended,
    }


async def _rq_state(services: ApiServices, job: str) -> tuple[bytes | None, bytes | None, bytes | None]:
    """RQ's status, started_at and ended_at of the job; all None when RQ has no such job or Redis is down."""
    try:
        return await services.redis.hmget(f"rq:job:{job}", "status", "started_at", "ended_at")
    except RedisError as error:
        # Committed work is never lost with Redis: the sweeper processes it, so "Queued" is the truth.
        log.warning("job status without RQ's view of %s: %s", job, error)
        return None, None, None


async def _recorded_failure(pool: asyncpg.Pool, aggregate_id: UUID, version: int) -> dict[str, Any] | None:
    row = await pool.fetchrow(
        "SELECT error, failed_at FROM projection_failure WHERE aggregate_id = $1 AND version = $2 AND resolved_at IS NULL",
        aggregate_id, version,
    )
    if row is None:
        return None
    failed_at: datetime = row["failed_at"]
    return {"error": row["error"], "failed_at": failed_at}
