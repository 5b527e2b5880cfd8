"""Response shapes of the history endpoints, declared for the OpenAPI document.

Handlers write the same fields with the service's codec (exact decimals);
payloads and documents are the stored order shapes, so they stay open objects.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from orderledger.api.schemas import Links, Out


class HistoryEvent(Out):
    """One event: `payload` is what it recorded, `metadata` what caused it (command, requestId, apiKey)."""

    version: int
    type: str
    time: datetime
    payload: dict[str, Any]
    metadata: dict[str, Any]


class OrderEvents(Out):
    order_id: str
    version: int  # the latest
    events: list[HistoryEvent]


class FeedEvent(HistoryEvent):
    """A feed event: its `cursor` resumes the feed right after it."""

    cursor: str = ""
    order_id: str = ""


class FeedPage(Out):
    """A page of the tenant's feed; `cursor` (or `links.next`) continues it, also when the page is empty."""

    items: list[FeedEvent]
    count: int
    cursor: str
    links: Links


class FieldChange(Out):
    pointer: str  # JSON pointer into the order (or into the line)
    before: Any
    after: Any


class LineChange(Out):
    index: int
    change: str  # added | removed | changed
    fields: list[FieldChange] | None = None
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None


class OrderDiff(Out):
    order_id: str
    from_version: int = msgspec.field(name="from")
    to: int = 0
    header: list[FieldChange] = []
    items: list[LineChange] = []


class ErasureDone(Out):
    keys_destroyed: int
    orders_rewritten: int
