"""Webhook subscriptions of the tenant: POST, GET and DELETE /api/v3/admin/webhooks."""

from __future__ import annotations

from uuid import UUID

import anyio.to_thread
import msgspec
from litestar import Controller, Request, Response, delete, get, post
from litestar.di import NamedDependency, Provide
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath

from orderledger.api import docs
from orderledger.api.auth import provide_tenant
from orderledger.api.problems import Problem, malformed
from orderledger.api.responses import json_response
from orderledger.api.services import ApiServices
from orderledger.automation.subscriptions import GET, INSERT, LIST, REMOVE, SubscriptionIn, SubscriptionOut, insert_params, new_secret, to_out
from orderledger.automation.target_policy import TargetRefused, resolve_target
from orderledger.tenancy import Tenant


class SubscriptionList(msgspec.Struct, rename="camel"):
    items: list[SubscriptionOut]


class WebhookController(Controller):
    path = "/api/v3/admin/webhooks"
    tags = ["admin"]
    dependencies = {"tenant": Provide(provide_tenant)}

    @post("/", operation_id="CreateWebhook", status_code=201,
          responses={201: ResponseSpec(SubscriptionOut, description="Created; `secret` is shown only in this answer."),
                     **docs.problems(s400="malformed_request", s401="unauthorized",
                                     s422="webhook_url_refused, subscription_invalid")},
          **docs.request_body(SubscriptionIn))
    async def create_webhook(self, request: Request, tenant: NamedDependency[Tenant]) -> Response[bytes]:
        """Subscribe a URL to actions (by name, or `*` for all) and/or order changes (order.created, order.updated,
        order.status_changed, order.deleted). Deliveries are signed with `secret` (ours if you send none)."""
        try:
            wanted = msgspec.json.decode(await request.body(), type=SubscriptionIn)
        except (msgspec.DecodeError, msgspec.ValidationError) as error:
            raise malformed(error) from None
        if not wanted.actions and not wanted.events:
            raise Problem(422, "subscription_invalid", "Subscribe to at least one action or event.",
                          errors=[{"pointer": "/actions", "code": "nothing_subscribed", "detail": "actions and events are both empty"}])
        services: ApiServices = request.app.state.services
        try:
            await anyio.to_thread.run_sync(resolve_target, wanted.url, services.settings.webhook_allow_private)
        except TargetRefused as refused:
            raise Problem(422, "webhook_url_refused", f"We do not call this URL: {refused.detail}.",
                          errors=[{"pointer": "/url", "code": "webhook_url_refused", "detail": refused.detail}]) from None
        row = await services.pool.fetchrow(INSERT, *insert_params(tenant.tenant_id, wanted, wanted.secret or new_secret()))
        created = to_out(row, reveal_secret=True)
        return json_response(msgspec.to_builtins(created), status=201,
                             headers={"Location": f"{self.path}/{created.subscription_id}"})

    @get("/", operation_id="ListWebhooks", responses=docs.ok(SubscriptionList, "The tenant's webhooks"))
    async def list_webhooks(self, request: Request, tenant: NamedDependency[Tenant]) -> Response[bytes]:
        """The tenant's active webhook subscriptions (secrets shown only as a hint)."""
        rows = await request.app.state.services.pool.fetch(LIST, tenant.tenant_id)
        return json_response({"items": [msgspec.to_builtins(to_out(row)) for row in rows]})

    @get("/{subscription_id:uuid}", operation_id="GetWebhook",
         responses=docs.ok(SubscriptionOut, "The subscription", s404="subscription_not_found"))
    async def get_webhook(self, request: Request, tenant: NamedDependency[Tenant], subscription_id: FromPath[UUID]) -> Response[bytes]:
        """One webhook subscription."""
        row = await request.app.state.services.pool.fetchrow(GET, tenant.tenant_id, subscription_id)
        if row is None:
            raise _not_found(subscription_id)
        return json_response(msgspec.to_builtins(to_out(row)))

    @delete("/{subscription_id:uuid}", operation_id="DeleteWebhook", status_code=204,
            responses=docs.problems(s401="unauthorized", s404="subscription_not_found"))
    async def delete_webhook(self, request: Request, tenant: NamedDependency[Tenant], subscription_id: FromPath[UUID]) -> None:
        """Stop a subscription: nothing more is sent to it; its pending deliveries die at their next try."""
        if await request.app.state.services.pool.fetchval(REMOVE, tenant.tenant_id, subscription_id) is None:
            raise _not_found(subscription_id)


def _not_found(subscription_id: UUID) -> Problem:
    return Problem(404, "subscription_not_found", f"Webhook subscription {subscription_id} was not found.")
