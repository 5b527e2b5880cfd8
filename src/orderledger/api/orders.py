"""Order commands and reads under /api/v3/orders."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from litestar import Controller, Request, Response, delete, get, patch, post, put
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath

from orderledger.api.actions import embedded_action, record_unchanged_action, with_action
from orderledger.api.auth import provide_tenant
from orderledger.api import docs, history
from orderledger.api.commands import accepted, bind, caused_by, decode_body, run_command
from orderledger.api.idempotency import idempotent
from orderledger.api.job_status import FINISHED, job_status
from orderledger.api.order_lists import Count, ListOrdersQuery as Q, Offset, contact_page, filtered_page
from orderledger.api.problems import Problem
from orderledger.api.responses import json_response
from orderledger.api.schemas import ContactOrdersPage, JobStatus, OrderOut, OrdersPage
from orderledger.api.services import ApiServices
from orderledger.application import Committed
from orderledger.domain.model import Delivery, OrderData, OrderIn, StatusChange, order_data_to_document
from orderledger.domain.tenant_config import TenantConfig
from orderledger.jsoncodec import loads_exact
from orderledger.tenancy import Tenant
from projections.order_view.listing import OrderFilter

# How soon a poller should ask again about an unfinished job.
RETRY_AFTER_SECONDS = "1"

# Builds the blocking command from (services, tenant, config, cause, expected version).
CommandBuilder = Callable[[ApiServices, str, TenantConfig, dict[str, Any], int | None], Callable[[], Committed]]


def expected_version(request: Request) -> int | None:
    """The version named by `If-Match` ("3", W/"3" or 3), or None."""
    header = request.headers.get("if-match")
    if header is None or header.strip() == "*":
        return None
    value = header.strip().removeprefix("W/").strip('"')
    if not value.isdigit():
        raise Problem(400, "malformed_request", "If-Match must be an order version as sent in ETag, e.g. \"3\".",
                      errors=[{"pointer": "", "code": "invalid_header", "detail": "If-Match"}])
    return int(value)


async def command_response(
    request: Request, tenant: Tenant, body: bytes, name: str, build: CommandBuilder, action: dict[str, Any] | None = None,
) -> Response[bytes]:
    """The shared path of every command: idempotency, tenant config, commit off the loop, enqueue, 202.

    `action` is an action embedded in a create or replace (it travels in the command's caused_by)."""
    services: ApiServices = request.app.state.services
    expected = expected_version(request)

    async def run() -> Response[bytes]:
        config = await services.configs.get(tenant.tenant_id)
        command = build(services, str(tenant.tenant_id), config, caused_by(request, tenant, name), expected)
        committed = await run_command(services, tenant, command, fault=request.headers.get("x-fault-inject"))
        await record_unchanged_action(services, tenant, committed, action)
        return accepted(committed)

    return await idempotent(services.pool, tenant.tenant_id, request, body, run)


def _path_order_id(order_id: str, body_order_id: str) -> None:
    if body_order_id and body_order_id != order_id:
        raise Problem(422, "order_id_mismatch", "The body's orderId differs from the one in the path.",
                      errors=[{"pointer": "/orderId", "code": "order_id_mismatch",
                               "detail": f"{body_order_id!r} is not {order_id!r}"}])


class OrderController(Controller):
    path = "/api/v3/orders"
    tags = ["orders"]
    dependencies = {"tenant": Provide(provide_tenant)}

    @post("/", operation_id="CreateOrder", status_code=202, responses=docs.accepted(s400="malformed_request", s409="order_exists, idempotency_key_reused, idempotency_key_in_progress", s422="order_invalid"), **docs.request_body(OrderIn))
    async def create_order(self, request: Request, tenant: NamedDependency[Tenant]) -> Response[bytes]:
        """Create an order. 202 with the job that will process it; 409 `order_exists`; 422 with every rule violation."""
        body = await request.body()
        order = decode_body(body, OrderIn)
        if not order.order_id:
            raise Problem(400, "malformed_request", "The order needs an orderId.",
                          errors=[{"pointer": "/orderId", "code": "required", "detail": "orderId is required"}])
        document = order_data_to_document(order)
        action = embedded_action(order, body, document)
        return await command_response(
            request, tenant, body, "RegisterOrder",
            lambda s, t, config, cause, _: bind(s.ledger.register_order, t, order.order_id, document, with_action(cause, action), config),
        )

    @get("/", operation_id="ListOrders", responses=docs.ok(OrdersPage | ContactOrdersPage, "OrdersPage, or ContactOrdersPage with contactId", s400="malformed_request"))
    async def list_orders(
        self, request: Request, tenant: NamedDependency[Tenant], contact_id: Q.ContactId = None, offset: Offset = 0,
        count: Count = 20, after: Q.After = None, status: Q.Text = None, order_state: Q.State = None,
        payment_status: Q.PaymentStatus = None, created_from: Q.CreatedFrom = None, created_to: Q.CreatedTo = None,
        confirmed_from: Q.ConfirmedFrom = None, confirmed_to: Q.ConfirmedTo = None, updated_since: Q.UpdatedSince = None,
        reference: Q.Text = None, erp_order_number: Q.ErpOrderNumber = None,
    ) -> Response[bytes]:
        """Orders of a contact (`contactId`: offset paging with total and links), or orders matching filters
        (keyset paging: follow `links.next`, correct while orders change)."""
        if contact_id is not None:
            return await contact_page(request, tenant, contact_id, offset, count)
        wanted = OrderFilter(
            status=status, state=order_state, payment_status=payment_status, created_from=created_from,
            created_to=created_to, confirmed_from=confirmed_from, confirmed_to=confirmed_to,
            updated_since=updated_since, reference=reference, erp_order_number=erp_order_number,
        )
        return await filtered_page(request, tenant, wanted, after, count)

    @put("/{order_id:str}", operation_id="ReplaceOrder", status_code=202, responses=docs.accepted(s400="malformed_request", s404="order_not_found", s409="version_conflict, idempotency_key_reused", s422="order_invalid, order_id_mismatch"), **docs.request_body(OrderIn))
    async def replace_order(self, request: Request, tenant: NamedDependency[Tenant], order_id: FromPath[str]) -> Response[bytes]:
        """Replace the whole order. Header, and each line added, changed or removed, become their own events.
        Replacing with the same data appends nothing and answers the job of the version that holds it."""
        return await self._replace(request, tenant, order_id)

    @post("/{order_id:str}", operation_id="ReplaceOrderViaPost", status_code=202, responses=docs.accepted(s400="malformed_request", s404="order_not_found", s409="version_conflict, idempotency_key_reused", s422="order_invalid, order_id_mismatch"), **docs.request_body(OrderIn))
    async def replace_order_post(self, request: Request, tenant: NamedDependency[Tenant], order_id: FromPath[str]) -> Response[bytes]:
        """Alias of PUT /orders/{orderId}, for integrations that can only POST."""
        return await self._replace(request, tenant, order_id)

    async def _replace(self, request: Request, tenant: Tenant, order_id: str) -> Response[bytes]:
        body = await request.body()
        order = decode_body(body, OrderIn)
        _path_order_id(order_id, order.order_id)
        document = order_data_to_document(order)
        action = embedded_action(order, body, document)
        return await command_response(
            request, tenant, body, "ReplaceOrder",
            lambda s, t, config, cause, expected: bind(s.ledger.replace_order, t, order_id, document, with_action(cause, action), config, expected),
            action,
        )

    @patch("/{order_id:str}", operation_id="PatchOrder", status_code=202, responses=docs.accepted(s400="malformed_request", s404="order_not_found", s409="version_conflict, idempotency_key_reused", s422="order_invalid, order_id_mismatch, company_id_immutable"), **docs.request_body(OrderData))
    async def patch_order(self, request: Request, tenant: NamedDependency[Tenant], order_id: FromPath[str]) -> Response[bytes]:
        """Change part of an order with a JSON merge patch (RFC 7386), e.g. `{"state": "processing"}`;
        `null` removes a field. The patched order must be valid as a whole."""
        body = await request.body()
        decode_body(body, dict)  # proves it is a JSON object, with a problem answer if not
        patch_body = loads_exact(body)  # and again for exact decimals, not floats
        if "orderId" in patch_body:
            _path_order_id(order_id, patch_body.pop("orderId") or "")
        return await command_response(
            request, tenant, body, "PatchOrder",
            lambda s, t, config, cause, expected: bind(s.ledger.patch_order, t, order_id, patch_body, cause, config, expected),
        )

    @post("/{order_id:str}/change-status", operation_id="ChangeOrderStatus", status_code=202, responses=docs.accepted(s400="malformed_request", s404="order_not_found", s409="version_conflict", s422="order_invalid"), **docs.request_body(StatusChange))
    async def change_status(self, request: Request, tenant: NamedDependency[Tenant], order_id: FromPath[str]) -> Response[bytes]:
        """Change any of status, externalStatus, paymentStatus, state, payment_status, shipment_state.
        Statuses must be among the tenant's configured values and follow its allowed transitions."""
        body = await request.body()
        changes = order_data_to_document(decode_body(body, StatusChange))
        if not changes:
            raise Problem(400, "malformed_request", "Name at least one status field to change.",
                          errors=[{"pointer": "", "code": "required", "detail": "no status field given"}])
        return await command_response(
            request, tenant, body, "ChangeOrderStatus",
            lambda s, t, config, cause, expected: bind(s.ledger.change_status, t, order_id, changes, cause, config, expected),
        )

    @post("/{order_id:str}/change-delivery", operation_id="ChangeOrderDelivery", status_code=202, responses=docs.accepted(s400="malformed_request", s404="order_not_found", s409="version_conflict"), **docs.request_body(Delivery))
    async def change_delivery(self, request: Request, tenant: NamedDependency[Tenant], order_id: FromPath[str]) -> Response[bytes]:
        """Set the delivery: method, trackingNumber, trackingUri, deliveryDate."""
        body = await request.body()
        delivery = order_data_to_document(decode_body(body, Delivery))
        return await command_response(
            request, tenant, body, "ChangeOrderDelivery",
            lambda s, t, _config, cause, expected: bind(s.ledger.change_delivery, t, order_id, delivery, cause, expected),
        )

    @delete("/{order_id:str}", operation_id="DeleteOrder", status_code=202, responses=docs.accepted(s404="order_not_found", s409="version_conflict"))
    async def delete_order(self, request: Request, tenant: NamedDependency[Tenant], order_id: FromPath[str]) -> Response[bytes]:
        """Delete an order: an `Order.Deleted` event. It disappears from reads; its history stays."""
        return await command_response(
            request, tenant, b"", "DeleteOrder",
            lambda s, t, _config, cause, expected: bind(s.ledger.delete_order, t, order_id, cause, expected),
        )

    @get("/jobs/{job_id:str}", operation_id="GetJob", responses=docs.ok(JobStatus, "The job's status", s404="job_not_found"))
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
        return json_response(status, headers=headers)

    @get("/{order_id:str}", operation_id="GetOrder", responses=docs.ok(OrderOut, "The processed order", s400="malformed_request", s404="order_not_found, version_not_found"))
    async def get_order(self, request: Request, tenant: NamedDependency[Tenant], order_id: FromPath[str],
                        version: history.Version = None, as_of: history.AsOf = None) -> Response[bytes]:
        """The order as last processed, with its `version` and `versionTag` (also as `ETag`).
        With `version=N` or `asOf=<time>`: the order as it was then, folded from its events (time travel)."""
        if version is not None or as_of is not None:
            return await history.past_order_response(request, tenant, order_id, version, as_of)
        services: ApiServices = request.app.state.services
        order = await services.orders.processed_order(tenant.tenant_id, order_id)
        if order is None:
            raise Problem(404, "order_not_found", f"Order {order_id!r} was not found.", orderId=order_id)
        body = {"orderId": order.order_id, **order.document, "version": order.version, "versionTag": order.version_tag,
                "createdAt": order.created_at, "updatedAt": order.updated_at}
        return json_response(body, headers={"ETag": f'"{order.version}"'})
