"""The delivery log of an order, and redelivery of a dead delivery."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

import anyio.to_thread
import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency, Provide
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, QueryParameter

from orderledger.api import docs
from orderledger.api.auth import provide_tenant
from orderledger.api.problems import Problem
from orderledger.api.responses import json_response
from orderledger.api.services import ApiServices
from orderledger.automation.delivery_log import ORDER_LOG, REDELIVER, STATUS_OF, log_entry
from orderledger.automation.dispatch import enqueue_delivery, webhook_queue
from orderledger.tenancy import Tenant


class DeliveryAttempt(msgspec.Struct, rename="camel"):
    attempt: int
    status_code: int | None
    latency_ms: int
    error: str | None
    at: str


class DeliveryLogEntry(msgspec.Struct, rename="camel"):
    """One delivery: `status` pending, delivered or dead; `attempts` lists every try."""

    delivery_id: UUID
    subscription_id: UUID
    url: str
    event: str
    action: str | None
    version: int
    sequence: int
    status: str
    attempt_count: int
    created_at: str
    next_attempt_at: str | None
    delivered_at: str | None
    dead_at: str | None
    last_status_code: int | None
    last_error: str | None
    attempts: list[DeliveryAttempt]


class DeliveryLog(msgspec.Struct, rename="camel"):
    order_id: str
    items: list[DeliveryLogEntry]
    offset: int
    count: int


class Redelivery(msgspec.Struct, rename="camel"):
    delivery_id: UUID
    status: str
    attempt: int


Count = Annotated[int, QueryParameter(name="count", ge=1, le=100, description="At most this many deliveries (max 100).")]
Offset = Annotated[int, QueryParameter(name="offset", ge=0)]


class DeliveryController(Controller):
    path = "/api/v3/orders"
    tags = ["actions"]
    dependencies = {"tenant": Provide(provide_tenant)}

    @get("/{order_id:str}/deliveries", operation_id="ListOrderDeliveries",
         responses=docs.ok(DeliveryLog, "The order's deliveries, oldest first", s400="malformed_request", s404="order_not_found"))
    async def list_deliveries(
        self, request: Request, tenant: NamedDependency[Tenant], order_id: FromPath[str], count: Count = 100, offset: Offset = 0,
    ) -> Response[bytes]:
        """Every webhook delivery of the order (actions and order changes), each with every try:
        status code, latency and error."""
        pool = (request.app.state.services).pool
        rows = await pool.fetch(ORDER_LOG, tenant.tenant_id, order_id, count, offset)
        if not rows and not await pool.fetchval("SELECT 1 FROM order_view WHERE tenant_id = $1 AND order_id = $2",
                                                tenant.tenant_id, order_id):
            raise Problem(404, "order_not_found", f"Order {order_id!r} was not found.", orderId=order_id)
        items: list[dict[str, Any]] = [log_entry(row, msgspec.json.decode(row["tries"])) for row in rows]
        return json_response({"orderId": order_id, "items": items, "offset": offset, "count": len(items)})

    @post("/{order_id:str}/deliveries/{delivery_id:uuid}/redeliver", operation_id="RedeliverDelivery", status_code=202,
          responses={202: ResponseSpec(Redelivery, description="Pending again: a fresh round of tries starts now."),
                     **docs.problems(s401="unauthorized", s404="delivery_not_found", s409="delivery_not_dead")})
    async def redeliver(self, request: Request, tenant: NamedDependency[Tenant], order_id: FromPath[str],
                        delivery_id: FromPath[UUID]) -> Response[bytes]:
        """Send a dead delivery again: the same delivery id, sequence and body, so receivers can de-duplicate."""
        services: ApiServices = request.app.state.services
        async with services.pool.acquire() as conn, conn.transaction():
            attempts = await conn.fetchval(REDELIVER, delivery_id, tenant.tenant_id, order_id)
            if attempts is None:
                status = await conn.fetchval(STATUS_OF, delivery_id, tenant.tenant_id, order_id)
                if status is None:
                    raise Problem(404, "delivery_not_found", f"Delivery {delivery_id} of order {order_id!r} was not found.")
                raise Problem(409, "delivery_not_dead", f"Delivery {delivery_id} is {status}; only a dead delivery is redelivered.",
                              deliveryStatus=status)
        queue = webhook_queue(services.queue.connection, services.settings.queue_name)
        # If Redis is away the delivery sweep sends it.
        await anyio.to_thread.run_sync(enqueue_delivery, queue, delivery_id, attempts + 1)
        return json_response({"deliveryId": delivery_id, "status": "pending", "attempt": attempts + 1}, status=202)
