"""Anchor of ingest: the naive way to put an event-sourced ledger behind Litestar.

POST /api/v3/orders does one eventsourcing `Application` get (the order must
not exist yet) and one `save` of the new aggregate per request, in a worker
thread; no auth, no validation, no queue. Served like the real API:
`uvicorn tests.bench.naive_app:build --factory`, with the database URL in
ORDERLEDGER_DATABASE_URL. It writes to its own table, naiveledger_events.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from uuid import UUID

import msgspec
from eventsourcing.application import AggregateNotFoundError, Application
from litestar import Litestar, Request, Response, get, post

from orderledger.domain.ids import job_id, order_aggregate_id
from orderledger.domain.order import Order
from orderledger.jsoncodec import loads_exact
from orderledger.settings import Settings

TENANT = "00000000-0000-0000-0000-00000000be9c"


class NaiveLedger(Application[UUID]):
    name = "NaiveLedger"  # its table is naiveledger_events


def _create(ledger: NaiveLedger, body: bytes) -> Response[bytes]:
    document = loads_exact(body)
    order_id = document.pop("orderId")
    aggregate_id = order_aggregate_id(TENANT, order_id)
    try:
        ledger.repository.get(aggregate_id)
    except AggregateNotFoundError:
        pass
    else:
        return Response(b'{"code":"order_exists"}', status_code=409, media_type="application/json")
    order = Order.register(TENANT, order_id, document, {"command": "RegisterOrder"})
    ledger.save(order)
    return Response(msgspec.json.encode({"jobId": job_id(order.id, order.version)}), status_code=202,
                    media_type="application/json")


def build() -> Litestar:
    settings = Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        app.state.ledger = NaiveLedger(env={**settings.eventsourcing_env(), "CREATE_TABLE": "y"})
        try:
            yield
        finally:
            app.state.ledger.close()

    @post("/api/v3/orders", sync_to_thread=True, status_code=202)
    def create_order(request: Request, body: bytes) -> Response[bytes]:
        """Get, then save: one eventsourcing round per request."""
        return _create(request.app.state.ledger, body)

    @get("/health")
    async def health() -> dict[str, str]:
        """Liveness, for the harness to know it is up."""
        return {"status": "ok"}

    return Litestar(route_handlers=[create_order, health], lifespan=[lifespan])
