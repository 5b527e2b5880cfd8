"""The app factory: `create_app(settings)` builds the Litestar app; nothing is built at import."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar, get
from litestar.openapi import OpenAPIConfig

from orderledger.api.actions import ActionController
from orderledger.api.admin import AdminController
from orderledger.api.deliveries import DeliveryController
from orderledger.api.docs import document_request_bodies
from orderledger.api.erasure import ErasureController
from orderledger.api.history import HistoryController
from orderledger.api.operations import metrics
from orderledger.api.order_lists import ContactController
from orderledger.api.orders import OrderController
from orderledger.api.problems import handle_exception
from orderledger.api.services import open_services
from orderledger.runtime import freeze_startup_objects
from orderledger.api.subscriptions import WebhookController
from orderledger.settings import Settings


@get("/health", operation_id="Health", tags=["operations"])
async def health() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


def create_app(settings: Settings) -> Litestar:
    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        async with open_services(settings) as services:
            app.state.services = services
            freeze_startup_objects()
            yield

    app = Litestar(
        route_handlers=[OrderController, ContactController, AdminController, health,
                        ActionController, DeliveryController, WebhookController, HistoryController,
                        ErasureController, metrics],
        lifespan=[lifespan],
        exception_handlers={Exception: handle_exception},
        openapi_config=OpenAPIConfig(
            title="orderledger",
            version="0.1.0",
            path="/schema",
            description="An event-sourced order ledger, Voyado Engage Orders v3 compatible. Authenticate with the "
            "`apikey` header or `Authorization: Bearer <key>`. Every error is application/problem+json with a stable `code`.",
        ),
    )
    document_request_bodies(app)
    return app
