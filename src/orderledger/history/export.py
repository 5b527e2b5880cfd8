"""Bulk export of a tenant's events (from the event store) or order views (from the read model).

Formats: NDJSON (the API's shapes, one a line), CSV (key columns plus the rest
as JSON), Parquet (needs the pyarrow package). Rows stream from a server-side
cursor or the feed's pages; Parquet is written in row groups. Personal data
appears as the store opens it: erased contacts read "[erased]".
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any
from uuid import UUID

import psycopg

from orderledger.application import OrderLedger
from orderledger.history.event_json import event_to_json
from orderledger.history.feed import FeedReader
from orderledger.history.horizon import safe_head
from orderledger.infrastructure.event_reads import EVENTS_TABLE
from orderledger.jsoncodec import dumps, dumps_text, loads_exact

FORMATS = ("ndjson", "csv", "parquet")
WHAT = ("events", "orders")
ROW_GROUP = 10_000

EVENT_COLUMNS = ["cursor", "orderId", "version", "type", "time", "command", "requestId", "apiKey", "payload"]
ORDER_COLUMNS = ["orderId", "version", "versionTag", "deleted", "contact", "status", "state", "paymentStatus", "currency",
                 "totalGrossPrice", "totalTax", "items", "createdDate", "createdAt", "updatedAt", "document"]

_ORDERS = """
SELECT v.order_id, v.version, t.version_tag, v.is_deleted, v.document::text, v.created_at, v.updated_at
FROM order_view v LEFT JOIN order_version t ON t.aggregate_id = v.aggregate_id AND t.version = v.version
WHERE v.tenant_id = %s AND (%s::timestamptz IS NULL OR v.updated_at >= %s)
ORDER BY v.created_at, v.aggregate_id
"""


class ExportError(Exception):
    """The export cannot be made as asked (e.g. Parquet without pyarrow)."""


@dataclass(frozen=True)
class ExportRequest:
    tenant_id: UUID
    what: str  # events | orders
    fmt: str  # ndjson | csv | parquet
    since: datetime | None = None


def count_rows(conn: psycopg.Connection, request: ExportRequest) -> int:
    """How many rows the export will write (for the progress bar; `since` is not counted in)."""
    if request.what == "orders":
        return conn.execute("SELECT count(*) FROM order_view WHERE tenant_id = %s", (request.tenant_id,)).fetchone()[0]
    return conn.execute(f"SELECT count(*) FROM {EVENTS_TABLE} WHERE orderledger_event_tenant(state) = %s",
                        (str(request.tenant_id),)).fetchone()[0]


def export(database_url: str, ledger: OrderLedger, request: ExportRequest, out: IO[bytes],
           on_rows: Callable[[int], None] = lambda n: None) -> int:
    """Write the export to `out`; returns how many rows were written."""
    writer = _writer(request, out)
    written = 0
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = _event_rows(conn, ledger, request) if request.what == "events" else _order_rows(database_url, request)
        for batch in rows:
            writer.write(batch)
            written += len(batch)
            on_rows(len(batch))
    writer.close()
    return written


def _event_rows(conn: psycopg.Connection, ledger: OrderLedger, request: ExportRequest) -> Iterator[list[dict[str, Any]]]:
    reader = FeedReader(ledger, request.tenant_id)
    for page in reader.follow(conn, 0, safe_head(conn), since=request.since):
        yield [{"cursor": e.cursor, "orderId": e.order_id, **event_to_json(e.event)} for e in page]


def _order_rows(database_url: str, request: ExportRequest) -> Iterator[list[dict[str, Any]]]:
    with psycopg.connect(database_url) as conn, conn.cursor(name="export_orders") as cursor:
        cursor.execute(_ORDERS, (request.tenant_id, request.since, request.since))
        while rows := cursor.fetchmany(1000):
            yield [{"orderId": order_id, **loads_exact(document), "version": version, "versionTag": tag,
                    "deleted": deleted, "createdAt": created_at, "updatedAt": updated_at}
                   for order_id, version, tag, deleted, document, created_at, updated_at in rows]


# -- writers -------------------------------------------------------------------------


class _Ndjson:
    def __init__(self, out: IO[bytes]) -> None:
        self.out = out

    def write(self, rows: list[dict[str, Any]]) -> None:
        self.out.write(b"".join(dumps(row) + b"\n" for row in rows))

    def close(self) -> None:
        self.out.flush()


def _flat_event(row: dict[str, Any]) -> dict[str, Any]:
    meta = row["metadata"]
    return {"cursor": row["cursor"], "orderId": row["orderId"], "version": row["version"], "type": row["type"],
            "time": row["time"].isoformat(), "command": meta.get("command"), "requestId": meta.get("requestId"),
            "apiKey": meta.get("apiKey"), "payload": dumps_text(row["payload"])}


_ENVELOPE = {"orderId", "version", "versionTag", "deleted", "createdAt", "updatedAt"}


def _flat_order(row: dict[str, Any]) -> dict[str, Any]:
    document = {k: v for k, v in row.items() if k not in _ENVELOPE}
    return {
        "orderId": row["orderId"], "version": row["version"], "versionTag": row["versionTag"], "deleted": row["deleted"],
        "contact": (document.get("contact") or {}).get("matchKey"), "status": document.get("status"),
        "state": document.get("state"), "paymentStatus": document.get("paymentStatus"),
        "currency": document.get("currency"), "totalGrossPrice": _text(document.get("totalGrossPrice")),
        "totalTax": _text(document.get("totalTax")), "items": len(document.get("items") or []),
        "createdDate": document.get("createdDate"), "createdAt": row["createdAt"].isoformat(),
        "updatedAt": row["updatedAt"].isoformat(), "document": dumps_text(document),
    }


def _text(value: Any) -> str | None:
    return None if value is None else str(value)  # exact: Decimal("199.90") -> "199.90"


class _Csv:
    def __init__(self, out: IO[bytes], what: str) -> None:
        import io

        self.text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
        self.flatten = _flat_event if what == "events" else _flat_order
        self.csv = csv.DictWriter(self.text, fieldnames=EVENT_COLUMNS if what == "events" else ORDER_COLUMNS)
        self.csv.writeheader()

    def write(self, rows: list[dict[str, Any]]) -> None:
        self.csv.writerows(self.flatten(row) for row in rows)

    def close(self) -> None:
        self.text.flush()
        self.text.detach()


class _Parquet:
    """Columns as in CSV (amounts as exact strings), written a row group at a time."""

    def __init__(self, out: IO[bytes], what: str) -> None:
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise ExportError("Parquet needs the pyarrow package, which is not installed; use --format ndjson or csv") from None
        self.pa, self.flatten = pa, (_flat_event if what == "events" else _flat_order)
        columns = EVENT_COLUMNS if what == "events" else ORDER_COLUMNS
        types = {"version": pa.int64(), "deleted": pa.bool_(), "items": pa.int64()}
        self.schema = pa.schema([(c, types.get(c, pa.string())) for c in columns])
        self.file = pq.ParquetWriter(out, self.schema)
        self.pending: list[dict[str, Any]] = []

    def write(self, rows: list[dict[str, Any]]) -> None:
        self.pending.extend(self.flatten(row) for row in rows)
        if len(self.pending) >= ROW_GROUP:
            self._flush()

    def _flush(self) -> None:
        if self.pending:
            self.file.write_table(self.pa.Table.from_pylist(self.pending, schema=self.schema))
            self.pending = []

    def close(self) -> None:
        self._flush()
        self.file.close()


def _writer(request: ExportRequest, out: IO[bytes]) -> Any:
    if request.fmt == "ndjson":
        return _Ndjson(out)
    if request.fmt == "csv":
        return _Csv(out, request.what)
    if request.fmt == "parquet":
        return _Parquet(out, request.what)
    raise ExportError(f"unknown format {request.fmt!r}; one of {', '.join(FORMATS)}")
