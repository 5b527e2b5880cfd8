"""Lists of orders: a contact's orders (Voyado's offset paging) and integrator filters (keyset paging)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from urllib.parse import urlencode

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, FromQuery, Parameter, QueryParameter

from orderledger.api import docs
from orderledger.api.auth import provide_tenant
from orderledger.api.schemas import ContactOrdersPage
from orderledger.api.problems import Problem
from orderledger.api.responses import json_response
from orderledger.api.services import ApiServices
from orderledger.tenancy import Tenant
from projections.order_view.listing import OrderFilter, contact_orders, list_orders

MAX_COUNT = 100
Count = Annotated[int, Parameter(ge=1, le=MAX_COUNT, description=f"page size, at most {MAX_COUNT}")]
Offset = Annotated[int, Parameter(ge=0)]
Date = Annotated[datetime | None, Parameter(description="ISO 8601 date-time")]


async def contact_page(request: Request, tenant: Tenant, contact_id: str, offset: int, count: int) -> Response[bytes]:
    services: ApiServices = request.app.state.services
    total, orders = await contact_orders(services.pool, tenant.tenant_id, contact_id, offset, count)

    def link(at: int) -> str:
        query: dict[str, object] = {"offset": at, "count": count}
        if "contactId" in request.query_params:
            query["contactId"] = contact_id
        return f"{request.url.path}?{urlencode(query)}"

    links = {}
    if offset + count < total:
        links["next"] = link(offset + count)
    if offset > 0:
        links["previous"] = link(max(0, offset - count))
    return json_response({"totalCount": total, "offset": offset, "count": count, "items": orders, "links": links})


async def filtered_page(request: Request, tenant: Tenant, wanted: OrderFilter, after: str | None, count: int) -> Response[bytes]:
    services: ApiServices = request.app.state.services
    try:
        orders, next_cursor = await list_orders(services.pool, tenant.tenant_id, wanted, after, count)
    except ValueError:
        raise Problem(400, "malformed_request", "`after` is not a cursor from this API.",
                      errors=[{"pointer": "after", "code": "invalid_parameter", "detail": "unknown cursor"}]) from None
    links = {}
    if next_cursor:
        query = {k: v for k, v in request.query_params.items() if k != "after"}
        links["next"] = f"{request.url.path}?{urlencode({**query, 'after': next_cursor})}"
    return json_response({"items": orders, "count": len(orders), "links": links})


class ListOrdersQuery:
    """The query parameters of GET /orders, declared once for the handler's signature."""

    ContactId = Annotated[str | None, QueryParameter(name="contactId", description="a contact's orders, newest first")]
    After = Annotated[str | None, Parameter(description="the `next` cursor of the previous page")]
    State = Annotated[str | None, QueryParameter(name="state", description="CloudSuite state")]
    PaymentStatus = Annotated[str | None, QueryParameter(name="paymentStatus")]
    CreatedFrom = Annotated[datetime | None, QueryParameter(name="createdFrom")]
    CreatedTo = Annotated[datetime | None, QueryParameter(name="createdTo")]
    ConfirmedFrom = Annotated[datetime | None, QueryParameter(name="confirmedFrom", description="CloudSuite's confirm_date__gte")]
    ConfirmedTo = Annotated[datetime | None, QueryParameter(name="confirmedTo")]
    UpdatedSince = Annotated[datetime | None, QueryParameter(name="updatedSince", description="oldest change first")]
    ErpOrderNumber = Annotated[str | None, QueryParameter(name="erpOrderNumber")]
    Text = FromQuery[str | None]


class ContactController(Controller):
    path = "/api/v3/contacts"
    tags = ["orders"]
    dependencies = {"tenant": Provide(provide_tenant)}

    @get("/{contact_id:str}/orders", operation_id="ListContactOrders", responses=docs.ok(ContactOrdersPage, "A page of the contact's orders", s400="malformed_request"))
    async def contact_orders(
        self, request: Request, tenant: NamedDependency[Tenant], contact_id: FromPath[str], offset: Offset = 0,
        count: Count = 20,
    ) -> Response[bytes]:
        """A contact's orders, newest first, with total count and next/previous links."""
        return await contact_page(request, tenant, contact_id, offset, count)
