"""Actions: POST /orders/{orderId}/action, and actions embedded in a create or replace.

An action runs only against a processed, tagged version and uses that
version's data. Its request row and its deliveries are written in one
transaction (the outbox); the request id is derived from (order, version,
action), so the same request again answers the first job and fires nothing.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any
from uuid import UUID

import anyio.to_thread
import asyncpg
import msgspec
from litestar import Controller, Request, Response, post
from litestar.di import NamedDependency, Provide
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath

from orderledger.api import docs
from orderledger.api.auth import provide_tenant
from orderledger.api.problems import Problem, malformed
from orderledger.api.services import ApiServices
from orderledger.application import Committed
from orderledger.automation.dispatch import enqueue_deliveries, webhook_queue
from orderledger.automation.outbox import INSERT_ACTION_REQUEST, MATERIALIZE_ACTION, action_request_row
from orderledger.domain.actions import ActionIn, action_job_id, action_request_id
from orderledger.domain.model import OrderIn
from orderledger.domain.order_changes import EMBEDDED_ACTION_KEY
from orderledger.domain.version_tag import InvalidVersionTag
from orderledger.jsoncodec import dumps, loads_exact
from orderledger.tenancy import Tenant

JOBS_PATH = "/api/v3/orders/jobs"
MAX_ACTION_BODY = 64 * 1024

_decoder = msgspec.json.Decoder(ActionIn, float_hook=Decimal)  # `data` keeps exact decimals


class ActionAccepted(msgspec.Struct, rename="camel"):
    """The action's job: poll `Location` for its status (Queued, Processing, Completed, CompletedWithErrors, Failed)."""

    job_id: str
    order_id: str
    version: int
    action: str
    status: str = "Queued"


class ActionController(Controller):
    path = "/api/v3/orders"
    tags = ["actions"]
    dependencies = {"tenant": Provide(provide_tenant)}

    @post("/{order_id:str}/action", operation_id="TriggerOrderAction", status_code=202,
          responses={202: ResponseSpec(ActionAccepted, description="Accepted: the action will run on the tagged version."),
                     **docs.problems(s400="malformed_request", s401="unauthorized", s404="order_not_found",
                                     s409="version_tag_stale (names currentVersionTag)", s413="payload_too_large",
                                     s422="version_tag_invalid, order_has_no_contact")},
          **docs.request_body(ActionIn))
    async def trigger_action(self, request: Request, tenant: NamedDependency[Tenant], order_id: FromPath[str]) -> Response[bytes]:
        """Run the tenant's automations for `action` on the order exactly as the version named by `versionTag`.
        The tag must be the order's latest processed one unless `allowStale` is true. The same
        (order, versionTag, action) again answers the first job and triggers nothing."""
        body = await request.body()
        if len(body) > MAX_ACTION_BODY:
            raise Problem(413, "payload_too_large", f"An action request is at most {MAX_ACTION_BODY} bytes.")
        try:
            wanted = _decoder.decode(body)
        except (msgspec.DecodeError, msgspec.ValidationError) as error:
            raise malformed(error) from None
        services: ApiServices = request.app.state.services
        request_id, version, first = await request_action(services, tenant, order_id, wanted)
        job = action_job_id(request_id)
        answer = {"jobId": job, "orderId": order_id, "version": version, "action": wanted.action, "status": "Queued"}
        headers = {"Location": f"{JOBS_PATH}/{job}"}
        if not first:
            headers["Idempotent-Replayed"] = "true"
        return Response(content=dumps(answer), status_code=202, media_type="application/json", headers=headers)


async def request_action(services: ApiServices, tenant: Tenant, order_id: str, wanted: ActionIn) -> tuple[UUID, int, bool]:
    """Check the tag and write the request with its deliveries; (request id, version, whether this call made it)."""
    pool = services.pool
    view = await pool.fetchrow(
        "SELECT aggregate_id, version FROM order_view WHERE tenant_id = $1 AND order_id = $2 AND NOT is_deleted",
        tenant.tenant_id, order_id)
    if view is None:
        raise Problem(404, "order_not_found", f"Order {order_id!r} was not found.", orderId=order_id)
    aggregate_id, latest = view["aggregate_id"], view["version"]
    try:
        tagged = services.keyring.verify(wanted.version_tag)
    except InvalidVersionTag as error:
        raise _tag_invalid(f"The versionTag is not valid: {error}.") from None
    if tagged.tenant_id != tenant.tenant_id or tagged.aggregate_id != aggregate_id:
        raise _tag_invalid(f"The versionTag belongs to another order, not to {order_id!r}.")
    request_id = action_request_id(aggregate_id, tagged.version, wanted.action)
    # A repeat answers the first job, even once newer versions have made its tag stale.
    if await pool.fetchval("SELECT 1 FROM action_request WHERE action_request_id = $1", request_id):
        return request_id, tagged.version, False
    tagged_row = await pool.fetchrow("SELECT warnings::text AS warnings FROM order_version WHERE aggregate_id = $1 AND version = $2",
                                     aggregate_id, tagged.version)
    if tagged_row is None:
        raise _tag_invalid("The versionTag names a version that has not been processed.")
    if tagged.version < latest and not wanted.allow_stale:
        current_tag = await pool.fetchval("SELECT version_tag FROM order_version WHERE aggregate_id = $1 AND version = $2",
                                          aggregate_id, latest)
        raise Problem(409, "version_tag_stale",
                      f"Version {latest} of the order has been processed since version {tagged.version}; act on the "
                      "current tag, or send allowStale: true to act on the older data.",
                      errors=[{"pointer": "/versionTag", "code": "version_tag_stale", "detail": "not the latest processed version"}],
                      currentVersion=latest, currentVersionTag=current_tag)
    if any(w.get("code") == "order_has_no_contact" for w in msgspec.json.decode(tagged_row["warnings"])):
        raise _no_contact("The order, at the tagged version, has no contact; actions cannot run for it.")
    row = action_request_row(tenant.tenant_id, aggregate_id, order_id, tagged.version, wanted.action, wanted.language,
                             wanted.data, "api")
    first, deliveries = await _write_request(pool, row)
    await _enqueue(services, deliveries)
    return request_id, tagged.version, first


# -- an action embedded in a create or replace ----------------------------------


def embedded_action(order: OrderIn, body: bytes, document: dict[str, Any]) -> dict[str, Any] | None:
    """The action a create or replace carries, as kept in its events' caused_by; 422 if it cannot run."""
    if order.action is None:
        return None
    if not (document.get("contact") or {}).get("matchKey"):
        raise _no_contact("The order has no contact; the action it carries cannot run for it.", pointer="/contact")
    data = loads_exact(body).get("action", {}).get("data")  # again, for exact decimals
    # The id tells apart two commands with the same request id and action, so each is its own change.
    return {"id": uuid.uuid4().hex, "action": order.action.action, "language": order.action.language, "data": data}


def with_action(cause: dict[str, Any], action: dict[str, Any] | None) -> dict[str, Any]:
    """The command's caused_by, carrying the embedded action: committed with the events, so no crash loses it."""
    return cause if action is None else {**cause, EMBEDDED_ACTION_KEY: action}


async def record_unchanged_action(services: ApiServices, tenant: Tenant, committed: Committed, action: dict[str, Any] | None) -> None:
    """A replace that changed nothing has no events to carry its action: it runs on the version that holds the data.

    Written now; its deliveries too if that version is processed, else by the
    delivery sweep once it is.
    """
    if action is None or committed.changed:
        return
    row = action_request_row(tenant.tenant_id, committed.aggregate_id, committed.order_id, committed.version,
                             action["action"], action.get("language"), action.get("data"), "embedded")
    _, deliveries = await _write_request(services.pool, row)
    await _enqueue(services, deliveries)


async def _write_request(pool: asyncpg.Pool, row: list[Any]) -> tuple[bool, list[UUID]]:
    async with pool.acquire() as conn, conn.transaction():
        if await conn.fetchval(INSERT_ACTION_REQUEST, *row) is None:
            return False, []  # a concurrent identical request won: it wrote the deliveries
        return True, [r["delivery_id"] for r in await conn.fetch(MATERIALIZE_ACTION, row[0])]


async def _enqueue(services: ApiServices, deliveries: list[UUID]) -> None:
    """After the commit; if Redis is away the delivery sweep sends them."""
    if deliveries:
        queue = webhook_queue(services.queue.connection, services.settings.queue_name)
        await anyio.to_thread.run_sync(enqueue_deliveries, queue, deliveries)


def _tag_invalid(detail: str) -> Problem:
    return Problem(422, "version_tag_invalid", detail,
                   errors=[{"pointer": "/versionTag", "code": "version_tag_invalid", "detail": detail}])


def _no_contact(detail: str, pointer: str = "/versionTag") -> Problem:
    return Problem(422, "order_has_no_contact", detail,
                   errors=[{"pointer": pointer, "code": "order_has_no_contact", "detail": detail}])
