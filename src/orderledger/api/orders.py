"""Order commands and reads under /api/v3/orders."""

from __future__ import annotations

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath

from orderledger.api.auth import provide_tenant
from orderledger.api.commands import accepted, bind, caused_by, decode_body, run_command
from orderledger.api.job_status import FINISHED, job_status
from orderledger.api.problems import Problem
from orderledger.api.services import ApiServices
from orderledger.domain.model import OrderIn, order_data_to_document
from orderledger.jsoncodec import dumps
from orderledger.tenancy import Tenant
from projections.order_view.queries import processed_order

# How soon a poller should ask again about an unfinished job.
RETRY_AFTER_SECONDS = "1"


def _json(body: object, status: int = 200, headers: dict[str, str] | None = None) -> Response[bytes]:
    return Response(content=dumps(body), status_code=status, media_type="application/json", headers=headers or {})


class OrderController(Controller):
    path = "/api/v3/orders"
    tags = ["orders"]
    dependencies = {"tenant": Provide(provide_tenant)}

    @post("/", operation_id="CreateOrder", status_code=202)
    async def create_order(self, request: Request, tenant: NamedDependency[Tenant]) -> Response[bytes]:
        """Create an order. Answers 202 with the job that will process it; 409 `order_exists` if the orderId is taken."""
        order = decode_body(await request.body(), OrderIn)
        if not order.order_id:
            raise Problem(400, "malformed_request", "The order needs an orderId.",
                          errors=[{"pointer": "/orderId", "code": "required", "detail": "orderId is required"}])
        services: ApiServices = request.app.state.services
        committed = await run_command(
            services, tenant,
            bind(services.ledger.register_order, str(tenant.tenant_id), order.order_id,
                 order_data_to_document(order), caused_by(request, tenant, "RegisterOrder")),
        )
        return accepted(committed)

    @get("/jobs/{job_id:str}", operation_id="GetJob")
    async def get_job(self, request: Request, tenant: NamedDependency[Tenant], job_id: FromPath[str]) -> Response[bytes]:
        """The status of the job a command answered with: Queued, Processing, Completed, CompletedWithErrors or Failed."""
        services: ApiServices = request.app.state.services
        status = await job_status(services, tenant, job_id)
        if status is None:
            raise Problem(404, "job_not_found", f"Job {job_id!r} was not found.")
        if status["status"] in FINISHED:
            headers = {"Content-Location": f"/api/v3/orders/{status['orderId']}"}
        else:
            headers = {"Retry-After": RETRY_AFTER_SECONDS}
        return _json(status, headers=headers)

    @get("/{order_id:str}", operation_id="GetOrder")
    async def get_order(self, request: Request, tenant: NamedDependency[Tenant], order_id: FromPath[str]) -> Response[bytes]:
        """The order as last processed, with its `version` and `versionTag` (also as `ETag`)."""
        services: ApiServices = request.app.state.services
        order = await processed_order(services.pool, tenant.tenant_id, order_id)
        if order is None:
            raise Problem(404, "order_not_found", f"Order {order_id!r} was not found.", orderId=order_id)
        body = {"orderId": order.order_id, **order.document, "version": order.version, "versionTag": order.version_tag,
                "createdAt": order.created_at, "updatedAt": order.updated_at}
        return _json(body, headers={"ETag": f'"{order.version}"'})
