"""Status of an action job (`act_<request>`), derived from its request and delivery rows.

Queued until a try is made, Processing while tries go on, Completed when every
subscribed webhook has it, CompletedWithErrors when no webhook subscribes to
the action (nothing to do, said as a warning), Failed when a delivery is dead
(it can be redelivered, and the status follows).
"""

from __future__ import annotations

from typing import Any

import asyncpg

from orderledger.domain.actions import parse_action_job_id
from orderledger.tenancy import Tenant

_REQUEST = """
SELECT a.action_request_id, a.order_id, a.version, a.action, a.requested_at, a.materialized_at, v.version_tag
FROM action_request a LEFT JOIN order_version v ON v.aggregate_id = a.aggregate_id AND v.version = a.version
WHERE a.action_request_id = $1 AND a.tenant_id = $2
"""

_DELIVERIES = """
SELECT d.delivery_id, d.status, d.attempts, d.last_status_code, d.last_error, d.delivered_at, d.dead_at,
       (SELECT min(t.attempted_at) FROM webhook_attempt t WHERE t.delivery_id = d.delivery_id) AS first_try
FROM webhook_delivery d WHERE d.action_request_id = $1
"""


async def action_job_status(pool: asyncpg.Pool, tenant: Tenant, job: str) -> dict[str, Any] | None:
    """The job's status document, or None if this tenant has no such action job."""
    request_id = parse_action_job_id(job)
    if request_id is None:
        return None
    request = await pool.fetchrow(_REQUEST, request_id, tenant.tenant_id)
    if request is None:
        return None
    deliveries = await pool.fetch(_DELIVERIES, request_id) if request["materialized_at"] else []
    status, errors, warnings = _status(request["materialized_at"] is not None, deliveries)
    finished = status in ("Completed", "CompletedWithErrors", "Failed")
    ends = [d["delivered_at"] or d["dead_at"] for d in deliveries]
    starts = [d["first_try"] for d in deliveries if d["first_try"]]
    return {
        "jobId": job,
        "status": status,
        "orderId": request["order_id"],
        "version": request["version"],
        "versionTag": request["version_tag"],
        "action": request["action"],
        "errors": errors,
        "warnings": warnings,
        "createdAt": request["requested_at"],
        "startedAt": min(starts) if starts else None,
        "endedAt": (max(ends) if ends and all(ends) else request["materialized_at"]) if finished else None,
        "deliveries": len(deliveries),
    }


def _status(materialized: bool, deliveries: list[Any]) -> tuple[str, list[dict[str, str]], list[dict[str, str]]]:
    if not materialized:
        return "Queued", [], []  # its version is not processed yet
    if not deliveries:
        return "CompletedWithErrors", [], [{"code": "no_subscription", "pointer": "/action",
                                            "detail": "no webhook subscribes to this action; nothing was sent"}]
    dead = [d for d in deliveries if d["status"] == "dead"]
    if dead:
        return "Failed", [{"code": "delivery_failed",
                           "detail": f"delivery {d['delivery_id']} is dead after {d['attempts']} tries: {d['last_error']}"}
                          for d in dead], []
    if all(d["status"] == "delivered" for d in deliveries):
        return "Completed", [], []
    return ("Processing" if any(d["attempts"] for d in deliveries) else "Queued"), [], []
