"""Erasure of a contact's personal data (GDPR), for the tenant's administrators."""

from __future__ import annotations

import anyio.to_thread
import msgspec
from litestar import Controller, Request, Response, post
from litestar.di import NamedDependency, Provide

from orderledger.api import docs
from orderledger.api.auth import provide_tenant
from orderledger.api.commands import decode_body
from orderledger.api.history_schemas import ErasureDone
from orderledger.api.problems import Problem
from orderledger.api.responses import json_response
from orderledger.api.services import ApiServices
from orderledger.history.erasure import ErasureBusy, erase_contact
from orderledger.tenancy import Tenant


class ErasureRequest(msgspec.Struct, forbid_unknown_fields=True):
    """The contact to erase, by matchKey (in the body, so it stays out of URLs and access logs)."""

    contact: str


class ErasureController(Controller):
    path = "/api/v3/admin/erasures"
    tags = ["admin"]
    dependencies = {"tenant": Provide(provide_tenant)}

    @post("/", operation_id="EraseContact", status_code=200, responses=docs.ok(ErasureDone, "Erased: keys destroyed, order views rewritten", s400="malformed_request", s409="rebuild_in_progress"), **docs.request_body(ErasureRequest))
    async def erase(self, request: Request, tenant: NamedDependency[Tenant]) -> Response[bytes]:
        """Erase a contact's personal data everywhere (crypto-shredding: its keys are destroyed). Its orders'
        facts (amounts, skus, statuses, dates) stay; personal fields read "[erased]" from then on. Idempotent;
        takes a few seconds. 409 `rebuild_in_progress` while a read-model rebuild runs (nothing was erased)."""
        body = decode_body(await request.body(), ErasureRequest)
        if not body.contact:
            raise Problem(400, "malformed_request", "Name the contact to erase.",
                          errors=[{"pointer": "/contact", "code": "required", "detail": "contact is required"}])
        services: ApiServices = request.app.state.services
        try:
            report = await anyio.to_thread.run_sync(
                lambda: erase_contact(services.settings.database_url, services.ledger, tenant.tenant_id, body.contact,
                                      wait=False))
        except ErasureBusy:
            raise Problem(409, "rebuild_in_progress", "A read-model rebuild is running; nothing was erased. Try again after it.",
                          headers={"Retry-After": "60"}) from None
        return json_response({"keysDestroyed": report.keys, "ordersRewritten": report.orders})
