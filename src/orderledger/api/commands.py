"""Running a command from an async handler: commit in a worker thread, then enqueue, then answer 202."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from functools import partial
from typing import Any

import anyio.to_thread
import msgspec
from litestar import Request, Response

from orderledger.api.problems import malformed
from orderledger.api.services import ApiServices
from orderledger.application import Committed
from orderledger.domain.ids import job_id
from orderledger.jsoncodec import dumps
from orderledger.tenancy import Tenant

JOBS_PATH = "/api/v3/orders/jobs"


def decode_body(body: bytes, schema: type[Any]) -> Any:
    try:
        return msgspec.json.decode(body, type=schema)
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        raise malformed(error) from None


def caused_by(request: Request, tenant: Tenant, command: str) -> dict[str, Any]:
    """What the history records about who asked for a change and how to trace it."""
    return {
        "command": command,
        "requestId": request.headers.get("x-request-id") or str(uuid.uuid4()),
        "apiKey": (request.headers.get("apikey") or request.headers.get("authorization", "")[7:])[:8],
    }


FAULT_EXIT_AFTER_COMMIT = "exit-after-commit"


async def run_command(
    services: ApiServices, tenant: Tenant, command: Callable[[], Committed], fault: str | None = None
) -> Committed:
    """Commit (blocking, off the event loop), then ask for processing. A 202 only ever follows a commit.

    A command that changed nothing asks for nothing: its version is already requested or processed.
    `fault` is honoured only when the settings enable fault injection (tests of crash recovery).
    """

    def commit_and_enqueue() -> Committed:
        committed = command()
        if fault == FAULT_EXIT_AFTER_COMMIT and services.settings.fault_injection:
            os._exit(137)  # die like a killed process: committed, never enqueued
        if committed.changed:
            services.projection_requests.request(tenant.tenant_id, committed.aggregate_id)
        return committed

    return await anyio.to_thread.run_sync(commit_and_enqueue)


def accepted(committed: Committed) -> Response[bytes]:
    job = job_id(committed.aggregate_id, committed.version)
    body = {"jobId": job, "orderId": committed.order_id, "version": committed.version, "status": "Queued"}
    return Response(
        content=dumps(body),
        status_code=202,
        media_type="application/json",
        headers={"Location": f"{JOBS_PATH}/{job}"},
    )


def bind(fn: Callable[..., Committed], *args: Any, **kwargs: Any) -> Callable[[], Committed]:
    return partial(fn, *args, **kwargs)
