"""Tenant administration: the validation configuration (statuses, transitions, toggles, tolerance)."""

from __future__ import annotations

import msgspec
from litestar import Controller, Request, Response, get, put
from litestar.di import NamedDependency, Provide

from orderledger.api import docs
from orderledger.api.auth import provide_tenant
from orderledger.api.responses import json_response
from orderledger.api.problems import Problem, malformed
from orderledger.api.services import ApiServices
from orderledger.domain.tenant_config import TenantConfig, config_from_json, config_to_builtins, validate_config
from orderledger.tenancy import Tenant


class AdminController(Controller):
    path = "/api/v3/admin"
    tags = ["admin"]
    dependencies = {"tenant": Provide(provide_tenant)}

    @get("/config", operation_id="GetTenantConfig", responses=docs.ok(TenantConfig, "The configuration"))
    async def get_config(self, request: Request, tenant: NamedDependency[Tenant]) -> Response[bytes]:
        """This tenant's validation configuration (the defaults until changed)."""
        services: ApiServices = request.app.state.services
        return json_response(config_to_builtins(await services.configs.get(tenant.tenant_id)))

    @put("/config", operation_id="PutTenantConfig", responses=docs.ok(TenantConfig, "The saved configuration", s400="malformed_request", s422="config_invalid"), **docs.request_body(TenantConfig))
    async def put_config(self, request: Request, tenant: NamedDependency[Tenant]) -> Response[bytes]:
        """Replace this tenant's validation configuration; omitted fields take their defaults."""
        try:
            config = config_from_json(await request.body())
        except (msgspec.DecodeError, msgspec.ValidationError) as error:
            raise malformed(error) from None
        if violations := validate_config(config):
            raise Problem(422, "config_invalid", "The configuration is not consistent.",
                          errors=[{"pointer": v.pointer, "code": v.code, "detail": v.detail} for v in violations])
        services: ApiServices = request.app.state.services
        await services.configs.put(tenant.tenant_id, config)
        return json_response(config_to_builtins(config))
