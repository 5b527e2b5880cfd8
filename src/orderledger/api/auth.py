"""API keys: `apikey: <key>` or `Authorization: Bearer <key>`. The key selects the tenant."""

from __future__ import annotations

from litestar import Request

from orderledger.api.problems import Problem
from orderledger.api.services import ApiServices
from orderledger.tenancy import Tenant


def presented_key(request: Request) -> str | None:
    key = request.headers.get("apikey")
    if key:
        return key.strip()
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return None


async def provide_tenant(request: Request) -> Tenant:
    key = presented_key(request)
    if key is None:
        raise Problem(401, "unauthorized", "Send your API key in the 'apikey' header or as 'Authorization: Bearer <key>'.",
                      headers={"WWW-Authenticate": "Bearer"})
    services: ApiServices = request.app.state.services
    tenant = await services.keys.tenant_for(key)
    if tenant is None:
        raise Problem(401, "unauthorized", "The API key is not valid or has been revoked.", headers={"WWW-Authenticate": "Bearer"})
    return tenant
