"""History for analysts: an order's events, the order at a version or a moment, diffs, the tenant feed.

Everything here reads the event store (not the read models), through the
ledger's mapper: old event versions arrive upcast, erased personal data reads
as "[erased]". The store is blocking (psycopg), so reads run in a thread.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime, timezone
from functools import partial
from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode

import anyio.to_thread
from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, QueryParameter
from litestar.response import Stream

from orderledger.api import docs
from orderledger.api.auth import provide_tenant
from orderledger.api.history_schemas import FeedPage, OrderDiff, OrderEvents
from orderledger.api.problems import Problem
from orderledger.api.responses import json_response
from orderledger.api.services import ApiServices
from orderledger.application import OrderLedger
from orderledger.domain.diff import diff_orders, diff_to_builtins
from orderledger.domain.ids import order_aggregate_id
from orderledger.history.event_json import event_to_json
from orderledger.history.feed import FeedEvent, FeedReader, decode_cursor, encode_cursor
from orderledger.history.horizon import HorizonTimeout, safe_head
from orderledger.history.time_travel import NotYetRegistered, PastOrder, VersionNotFound, order_at, stream_of
from orderledger.jsoncodec import dumps
from orderledger.tenancy import Tenant
from projections.order_view.queries import processed_version

NDJSON = "application/x-ndjson"
FEED_DEFAULT_LIMIT, FEED_MAX_LIMIT = 100, 1000
STREAM_PAGE = 1000

T = TypeVar("T")

Version = Annotated[int | None, QueryParameter(name="version", ge=1, description="the order as this version left it")]
AsOf = Annotated[datetime | None, QueryParameter(name="asOf", description="the order as it was at this moment (ISO 8601; UTC if no offset)")]
From = Annotated[int, QueryParameter(name="from", ge=1, description="the earlier version")]
To = Annotated[int, QueryParameter(name="to", ge=1, description="the later version")]
After = Annotated[str | None, QueryParameter(name="after", description="the `cursor` of the last event read")]
Limit = Annotated[int | None, QueryParameter(name="limit", ge=1, description=f"events per page (JSON: default {FEED_DEFAULT_LIMIT}, at most {FEED_MAX_LIMIT}; NDJSON: all by default)")]
Format = Annotated[str | None, QueryParameter(name="format", description="`ndjson` streams the feed (as does Accept: application/x-ndjson)")]


async def _blocking(services: ApiServices, work: Callable[[OrderLedger], T]) -> T:
    return await anyio.to_thread.run_sync(work, services.ledger)


async def _past(services: ApiServices, tenant: Tenant, order_id: str, **at: Any) -> PastOrder:
    try:
        return await _blocking(services, lambda ledger: order_at(stream_of(ledger, str(tenant.tenant_id), order_id), order_id, **at))
    except VersionNotFound as error:
        raise Problem(404, "version_not_found", str(error), orderId=order_id, currentVersion=error.current) from None
    except NotYetRegistered as error:
        raise Problem(404, "order_not_found", f"Order {order_id!r} did not exist yet at {error.as_of.isoformat()}.",
                      orderId=order_id, registeredAt=error.registered_at) from None


async def past_order_response(
    request: Request, tenant: Tenant, order_id: str, version: int | None, as_of: datetime | None
) -> Response[bytes]:
    """GET /orders/{orderId}?version=N or ?asOf=T: the same shape as the current order, for that version."""
    if version is not None and as_of is not None:
        raise Problem(400, "malformed_request", "Ask for a version or a moment (asOf), not both.",
                      errors=[{"pointer": "asOf", "code": "invalid_parameter", "detail": "version and asOf exclude each other"}])
    services: ApiServices = request.app.state.services
    past = await _past(services, tenant, order_id, version=version, as_of=_aware(as_of))
    if past.order.is_deleted:
        raise Problem(404, "order_not_found", f"Order {order_id!r} was deleted at version {past.version}.",
                      orderId=order_id, deletedAtVersion=past.version)
    processed = await processed_version(services.pool, tenant.tenant_id, order_aggregate_id(str(tenant.tenant_id), order_id), past.version)
    body = {"orderId": order_id, **past.order.document, "version": past.version,
            "versionTag": processed.version_tag if processed else None, "createdAt": past.created_at,
            "updatedAt": past.updated_at, "latestVersion": past.latest_version}
    return json_response(body)


def _aware(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=timezone.utc) if moment is not None and moment.tzinfo is None else moment


def _feed_item(item: FeedEvent) -> dict[str, Any]:
    return {"cursor": item.cursor, "orderId": item.order_id, **event_to_json(item.event)}


class HistoryController(Controller):
    path = "/api/v3"
    tags = ["history"]
    dependencies = {"tenant": Provide(provide_tenant)}

    @get("/orders/{order_id:str}/events", operation_id="GetOrderEvents", responses=docs.ok(OrderEvents, "The order's events", s404="order_not_found"))
    async def order_events(self, request: Request, tenant: NamedDependency[Tenant], order_id: FromPath[str]) -> Response[bytes]:
        """Every event of the order in version order: `version`, `type`, `time`, `payload`, and `metadata`
        (the command that caused it, its request id, the API key's prefix). Deleted orders keep their history."""
        services: ApiServices = request.app.state.services
        events = await _blocking(services, lambda ledger: stream_of(ledger, str(tenant.tenant_id), order_id))
        return json_response({"orderId": order_id, "version": events[-1].originator_version,
                              "events": [event_to_json(e) for e in events]})

    @get("/orders/{order_id:str}/diff", operation_id="DiffOrderVersions", responses=docs.ok(OrderDiff, "What changed", s400="malformed_request", s404="order_not_found, version_not_found"))
    async def diff(self, request: Request, tenant: NamedDependency[Tenant], order_id: FromPath[str],
                   from_version: From, to_version: To) -> Response[bytes]:
        """What changed from version `from` to version `to`: header fields (JSON pointers, before and after)
        and lines (added, removed, or changed field by field)."""
        services: ApiServices = request.app.state.services

        def both(ledger: OrderLedger) -> tuple[PastOrder, PastOrder]:
            events = stream_of(ledger, str(tenant.tenant_id), order_id)
            return order_at(events, order_id, version=from_version), order_at(events, order_id, version=to_version)

        try:
            before, after = await _blocking(services, both)
        except VersionNotFound as error:
            raise Problem(404, "version_not_found", str(error), orderId=order_id, currentVersion=error.current) from None
        body = {"orderId": order_id, "from": from_version, "to": to_version,
                **diff_to_builtins(diff_orders(before.order.document, after.order.document))}
        if before.order.is_deleted != after.order.is_deleted:
            body["deleted"] = {"before": before.order.is_deleted, "after": after.order.is_deleted}
        return json_response(body)

    @get("/events", operation_id="GetEventFeed", responses=docs.ok(FeedPage, "A page of the tenant's events (or NDJSON: one FeedEvent a line)", s400="malformed_request", s503="feed_unavailable"))
    async def feed(self, request: Request, tenant: NamedDependency[Tenant], after: After = None, limit: Limit = None,
                   format: Format = None) -> Response[bytes] | Stream:
        """The tenant's events in commit order. Follow `cursor` (or `links.next`) to read on: a reader that
        does never skips an event nor sees one twice. `format=ndjson` (or `Accept: application/x-ndjson`)
        streams every event after the cursor, one JSON object a line."""
        try:
            position = decode_cursor(after)
        except ValueError:
            raise Problem(400, "malformed_request", "`after` is not a cursor from this feed.",
                          errors=[{"pointer": "after", "code": "invalid_parameter", "detail": "unknown cursor"}]) from None
        if format not in (None, "json", "ndjson"):
            raise Problem(400, "malformed_request", "`format` is json or ndjson.",
                          errors=[{"pointer": "format", "code": "invalid_parameter", "detail": f"unknown format {format!r}"}])
        services: ApiServices = request.app.state.services
        head = await self._head(services)
        reader = FeedReader(services.ledger, tenant.tenant_id)
        if format == "ndjson" or (format is None and NDJSON in request.headers.get("accept", "")):
            return Stream(_ndjson(services, reader, position, head, limit), media_type=NDJSON)
        count = min(limit or FEED_DEFAULT_LIMIT, FEED_MAX_LIMIT)
        page = await _blocking(services, lambda ledger: _page(ledger, reader, position, count, head))
        cursor = page[-1].cursor if page else encode_cursor(position)
        query = {"after": cursor, **({"limit": str(limit)} if limit else {})}
        return json_response({"items": [_feed_item(e) for e in page], "count": len(page), "cursor": cursor,
                              "links": {"next": f"{request.url.path}?{urlencode(query)}"}})

    @staticmethod
    async def _head(services: ApiServices) -> int:
        def head(ledger: OrderLedger) -> int:
            with ledger.factory.datastore.get_connection() as conn:  # type: ignore[attr-defined]
                return safe_head(conn)

        try:
            return await _blocking(services, head)
        except HorizonTimeout as error:
            raise Problem(503, "feed_unavailable", f"The feed waits for a writer: {error}",
                          headers={"Retry-After": "5"}) from None


def _page(ledger: OrderLedger, reader: FeedReader, after: int, count: int, head: int) -> list[FeedEvent]:
    with ledger.factory.datastore.get_connection() as conn:  # type: ignore[attr-defined]
        return reader.page(conn, after, count, head)


async def _ndjson(services: ApiServices, reader: FeedReader, after: int, head: int, limit: int | None) -> AsyncIterator[bytes]:
    """The feed from `after` up to `head`, a page at a time: never more than a page in memory."""
    sent = 0
    while limit is None or sent < limit:
        count = STREAM_PAGE if limit is None else min(STREAM_PAGE, limit - sent)
        page = await _blocking(services, partial(_page, reader=reader, after=after, count=count, head=head))
        if not page:
            return
        yield b"".join(dumps(_feed_item(e)) + b"\n" for e in page)
        after, sent = page[-1].position, sent + len(page)
        if len(page) < count:
            return
