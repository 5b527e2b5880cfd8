"""The tenant feed: a tenant's events in commit order, in pages, gap-safe.

A page holds events with notification id above the cursor and at most the
store's safe head (history/horizon.py), so a reader that follows the cursor
sees every event exactly once, however writers interleave. Events are decoded
through the ledger's mapper: upcast to the current shape, personal values
opened (or erased). Blocking (psycopg): the API calls it from a thread.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import psycopg
from eventsourcing.persistence import StoredEvent
from psycopg.rows import tuple_row

from orderledger.application import OrderLedger
from orderledger.domain.order import Order
from orderledger.infrastructure.event_reads import EVENTS_TABLE

PAGE_SIZE = 1000
_CURSOR_PREFIX = "n:"

_PAGE = f"""
SELECT notification_id, originator_id, originator_version, topic, state
FROM {EVENTS_TABLE}
WHERE orderledger_event_tenant(state) = %(tenant)s AND notification_id > %(after)s AND notification_id <= %(head)s
  AND (%(since)s::timestamptz IS NULL
       OR (convert_from(state, 'UTF8')::jsonb -> 'timestamp' ->> '_data_')::timestamptz >= %(since)s)
ORDER BY notification_id
LIMIT %(limit)s
"""

_ORDER_IDS = f"""
SELECT originator_id, convert_from(state, 'UTF8')::jsonb ->> 'order_id'
FROM {EVENTS_TABLE} WHERE originator_id = ANY(%s) AND originator_version = 1
"""


@dataclass(frozen=True, slots=True)
class FeedEvent:
    position: int  # the notification id
    order_id: str
    event: Order.Event

    @property
    def cursor(self) -> str:
        return encode_cursor(self.position)


def encode_cursor(position: int) -> str:
    """An opaque cursor for a feed position (base64url of the notification id)."""
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{position}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    """The position a cursor names; 0 (the beginning) for None. Raises ValueError for anything else."""
    if not cursor:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError) as error:
        raise ValueError("not a feed cursor") from error
    if not text.startswith(_CURSOR_PREFIX) or not text[len(_CURSOR_PREFIX):].isdigit():
        raise ValueError("not a feed cursor")
    return int(text[len(_CURSOR_PREFIX):])


class FeedReader:
    """Reads one tenant's feed; remembers the order ids it has seen (one reader per request or export)."""

    def __init__(self, ledger: OrderLedger, tenant_id: UUID | str) -> None:
        self._ledger, self._tenant = ledger, str(tenant_id)
        self._order_ids: dict[UUID, str] = {}

    def page(self, conn: psycopg.Connection, after: int, limit: int, head: int,
             since: datetime | None = None) -> list[FeedEvent]:
        """Up to `limit` events after position `after`, none above `head` (a safe head)."""
        with conn.cursor(row_factory=tuple_row) as cursor:
            rows = cursor.execute(
                _PAGE, {"tenant": self._tenant, "after": after, "head": head, "since": since, "limit": limit}
            ).fetchall()
            missing = list({row[1] for row in rows if row[1] not in self._order_ids})
            if missing:
                self._order_ids.update(cursor.execute(_ORDER_IDS, (missing,)).fetchall())
        mapper = self._ledger.mapper
        mapper.sealer.prefetch_keys(bytes(row[4]) for row in rows)  # type: ignore[attr-defined]
        return [
            FeedEvent(row[0], self._order_ids.get(row[1], ""),
                      mapper.to_domain_event(StoredEvent(row[1], row[2], row[3], bytes(row[4]))))  # type: ignore[arg-type]
            for row in rows
        ]

    def follow(self, conn: psycopg.Connection, after: int, head: int, page_size: int = PAGE_SIZE,
               since: datetime | None = None) -> Iterator[list[FeedEvent]]:
        """Every page from `after` up to `head`, lazily."""
        while True:
            page = self.page(conn, after, page_size, head, since)
            if not page:
                return
            yield page
            after = page[-1].position
            if len(page) < page_size:
                return
