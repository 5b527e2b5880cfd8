"""Job status, derived: the ledger says what was committed, the read models what was processed,
RQ only what is in flight. So a job stays answerable after RQ has forgotten it."""

from __future__ import annotations

from typing import Any

from orderledger.api.services import ApiServices
from orderledger.domain.ids import parse_job_id
from orderledger.infrastructure.event_reads import committed_version
from orderledger.tenancy import Tenant
from projections.order_view.queries import processed_version

QUEUED, PROCESSING, COMPLETED, COMPLETED_WITH_ERRORS, FAILED = (
    "Queued", "Processing", "Completed", "CompletedWithErrors", "Failed",
)
FINISHED = {COMPLETED, COMPLETED_WITH_ERRORS, FAILED}

_RQ_TO_STATUS = {b"started": PROCESSING, b"failed": FAILED}


async def job_status(services: ApiServices, tenant: Tenant, job: str) -> dict[str, Any] | None:
    """The job's status document, or None if this tenant has no such job."""
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
    rq_status, started_at, ended_at = await services.redis.hmget(f"rq:job:{job}", "status", "started_at", "ended_at")
    status = _RQ_TO_STATUS.get(rq_status or b"", QUEUED)
    return {
        "jobId": job,
        "status": status,
        "orderId": committed.order_id,
        "version": version,
        "versionTag": None,
        "errors": [{"code": "processing_failed", "detail": "processing failed after every retry"}] if status == FAILED else [],
        "warnings": [],
        "createdAt": committed.recorded_at,
        "startedAt": started_at.decode() if started_at else None,
        "endedAt": ended_at.decode() if ended_at and status == FAILED else None,
    }
