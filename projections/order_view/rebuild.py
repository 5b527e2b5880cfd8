"""Rebuilding the order view: fresh copies of its tables, filled by the pure fold, swapped in.

The fresh tables are made from this projection's own DDL (schema.py) with the
table names suffixed, so they match the live ones column for column. Rows come
only from `fold` and table writes: a rebuild never runs the projection job, so
no webhook or action fires again.

A version already processed keeps its VersionTag and processed time from the
live table (a tag once issued stays the tag; job status keeps its end time);
a version processed first by the rebuild gets a fresh tag.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from uuid import UUID

import psycopg
from psycopg.types.json import set_json_dumps

from orderledger.application import OrderLedger
from orderledger.domain.order import Order
from orderledger.domain.version_tag import TagKeyring
from orderledger.jsoncodec import dumps, dumps_text
from projections.locks import PROJECTION_WRITERS
from projections.order_view.fold import ViewRow, VersionRow, fold
from projections.order_view.schema import DDL
from projections.order_view.updater import order_lock_key

NAME = "order_view"
TABLES = ("order_view", "order_version")
SUFFIX = "_rebuild"
_TABLE_NAMES = re.compile(r"\b(order_view|order_version)(?=\b|_)")

_VIEW_COLUMNS = "aggregate_id, tenant_id, order_id, version, document, is_deleted, contact_key, created_at, updated_at"
_VERSION_COLUMNS = "aggregate_id, version, tenant_id, order_id, version_tag, event_type, recorded_at, warnings"
_VIEW_TYPES = ["uuid", "uuid", "text", "int4", "jsonb", "bool", "text", "timestamptz", "timestamptz"]
# A version's row but for what the live table may already have issued for it: its tag and processed time.
_STAGED_COLUMNS = "aggregate_id, version, tenant_id, order_id, event_type, recorded_at, warnings"
_STAGED_TYPES = ["uuid", "int4", "uuid", "text", "text", "timestamptz", "jsonb"]
_STAGED = ", ".join(f"s.{column}" for column in _STAGED_COLUMNS.split(", "))

_UPSERT_VIEW = """
INSERT INTO {view} ({columns}) VALUES (%s, %s, %s, %s, %s::jsonb, %s, %s, %s, %s)
ON CONFLICT (aggregate_id) DO UPDATE SET
    version = EXCLUDED.version, document = EXCLUDED.document, is_deleted = EXCLUDED.is_deleted,
    contact_key = EXCLUDED.contact_key, created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at
"""

_STAGING = f"CREATE TEMP TABLE IF NOT EXISTS order_version_staging AS SELECT {_STAGED_COLUMNS} FROM order_version WITH NO DATA"

# The staged versions the live table has processed go in with the tag and processed time they were issued;
# the others come back, to be tagged. The staged rows are a range of orders in stream order: bounding the
# live side to that range lets it be read by its key, not scanned whole for every batch.
_KEEP_ISSUED = f"""
WITH kept AS (
    INSERT INTO order_version{SUFFIX} ({_STAGED_COLUMNS}, version_tag, processed_at)
    SELECT {_STAGED}, l.version_tag, l.processed_at
    FROM order_version_staging s JOIN order_version l ON l.aggregate_id = s.aggregate_id AND l.version = s.version
        AND l.aggregate_id BETWEEN %(first)s AND %(last)s
    ON CONFLICT (aggregate_id, version) DO NOTHING
)
SELECT s.aggregate_id, s.version, s.tenant_id FROM order_version_staging s
WHERE NOT EXISTS (SELECT FROM order_version l WHERE l.aggregate_id = s.aggregate_id AND l.version = s.version
                  AND l.aggregate_id BETWEEN %(first)s AND %(last)s)
"""

# Versions processed first by the rebuild: a fresh tag, processed now (the table's default).
_ISSUE_NEW = f"""
INSERT INTO order_version{SUFFIX} ({_STAGED_COLUMNS}, version_tag)
SELECT {_STAGED}, t.version_tag
FROM order_version_staging s JOIN unnest(%s::uuid[], %s::int[], %s::text[]) AS t(aggregate_id, version, version_tag)
    ON t.aggregate_id = s.aggregate_id AND t.version = s.version
ON CONFLICT (aggregate_id, version) DO NOTHING
"""


def fresh_ddl(suffix: str = SUFFIX) -> str:
    """This projection's DDL for tables (and their indexes) named with `suffix`."""
    return _TABLE_NAMES.sub(lambda m: m.group(1) + suffix, DDL)


def create_fresh_tables(conn: psycopg.Connection) -> None:
    """Empty `_rebuild` tables (any left by an interrupted rebuild are dropped first); the live ones if missing."""
    with conn.transaction():
        conn.execute(DDL)  # a rebuild after the read models were dropped starts from empty live tables
        conn.execute(f"DROP TABLE IF EXISTS {', '.join(t + SUFFIX for t in TABLES)}")
        conn.execute(fresh_ddl())


class FreshTableWriter:
    """Folds whole streams and writes their rows into the fresh tables: in COPY batches, or one order at a time.

    A full batch is written on a thread of its own while the next one is folded, so PostgreSQL stores one
    batch while Python decodes and folds the next. Use it as a context manager: leaving waits for the
    batch being written.
    """

    def __init__(self, conn: psycopg.Connection, keyring: TagKeyring, batch: int = 1000) -> None:
        self._conn, self._keyring, self._batch = conn, keyring, batch
        self._views: list[tuple] = []
        self._versions: list[tuple] = []
        self._tenants: dict[str, UUID] = {}
        self._writing: Future[None] | None = None
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="rebuild-writer")
        conn.execute(_STAGING)

    def __enter__(self) -> FreshTableWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._wait()
        finally:
            self._thread.shutdown()

    def add(self, events: list[Order.Event]) -> None:
        """Buffer the rows of an order not yet in the fresh tables."""
        result = fold(events, 0)
        if result is None:
            return
        view, versions = result
        tenant = self._tenant(view)
        self._views.append((view.aggregate_id, tenant, view.order_id, view.version, view.document, view.is_deleted,
                            view.contact_key, view.created_at, view.updated_at))
        self._versions.extend(_staged(tenant, view, versions))
        if len(self._views) >= self._batch:
            self._hand_over()

    def flush(self) -> None:
        """Write what is buffered, and wait until every batch is written."""
        if self._views:
            self._hand_over()
        self._wait()

    def _hand_over(self) -> None:
        views, versions = self._views, self._versions
        self._views, self._versions = [], []
        self._wait()  # one batch written at a time, in order
        self._writing = self._thread.submit(self._write_batch, views, versions)

    def _wait(self) -> None:
        writing, self._writing = self._writing, None
        if writing is not None:
            writing.result()

    def _write_batch(self, views: list[tuple], versions: list[tuple]) -> None:
        with self._conn.transaction(), self._cursor() as cursor:
            with cursor.copy(f"COPY order_view{SUFFIX} ({_VIEW_COLUMNS}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(_VIEW_TYPES)
                for row in views:
                    copy.write_row(row)
            self._write_versions(cursor, versions)

    def rewrite(self, ledger: OrderLedger, aggregate_ids: Iterable[UUID]) -> int:
        """Fold these orders' whole streams again into the fresh tables (catching up); returns how many."""
        self.flush()
        written = 0
        for aggregate_id in aggregate_ids:
            result = fold(ledger.stream(aggregate_id), 0)
            if result is None:
                continue
            view, versions = result
            with self._conn.transaction(), self._cursor() as cursor:
                cursor.execute(_UPSERT_VIEW.format(view=f"order_view{SUFFIX}", columns=_VIEW_COLUMNS), _view_tuple(view))
                self._write_versions(cursor, _staged(self._tenant(view), view, versions))
            written += 1
        return written

    def _cursor(self) -> psycopg.Cursor:
        """A cursor whose COPY takes documents and warnings as they are: encoded once, by msgspec, as jsonb."""
        cursor = self._conn.cursor()
        set_json_dumps(dumps, context=cursor)
        return cursor

    def _tenant(self, view: ViewRow) -> UUID:
        tenant = self._tenants.get(view.tenant_id)
        if tenant is None:
            tenant = self._tenants[view.tenant_id] = UUID(view.tenant_id)
        return tenant

    def _write_versions(self, cursor: psycopg.Cursor, rows: list[tuple]) -> None:
        """Version rows of a range of orders (consecutive in stream order), through the staging table.

        A version the live table has processed keeps its tag; only the others are tagged (an HMAC each).
        """
        if not rows:
            return
        with cursor.copy(f"COPY order_version_staging ({_STAGED_COLUMNS}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(_STAGED_TYPES)
            for row in rows:
                copy.write_row(row)
        orders = [row[0] for row in rows]
        # Python orders UUIDs as PostgreSQL does (by their bytes).
        new = cursor.execute(_KEEP_ISSUED, {"first": min(orders), "last": max(orders)}).fetchall()
        if new:
            issue = self._keyring.issue
            cursor.execute(_ISSUE_NEW, ([row[0] for row in new], [row[1] for row in new],
                                        [issue(tenant, aggregate_id, version) for aggregate_id, version, tenant in new]))
        cursor.execute("TRUNCATE order_version_staging")


def rewrite_live_views(conn: psycopg.Connection, ledger: OrderLedger, aggregate_ids: Iterable[UUID]) -> int:
    """Fold these orders again and overwrite their live `order_view` rows, whatever their version (after an erasure).

    Under the projection job's own locks. The version records hold no personal
    data and stay. Returns how many orders were rewritten.
    """
    written = 0
    for aggregate_id in aggregate_ids:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock_shared(%s, %s), pg_advisory_xact_lock(%s)",
                         (*PROJECTION_WRITERS, order_lock_key(aggregate_id)))
            result = fold(ledger.stream(aggregate_id), 0)
            if result is not None:
                conn.execute(_UPSERT_VIEW.format(view="order_view", columns=_VIEW_COLUMNS), _view_tuple(result[0]))
                written += 1
    return written


def swap_in_fresh_tables(conn: psycopg.Connection) -> None:
    """In the caller's transaction: drop the live tables and give the fresh ones (and their indexes) the live names."""
    live = ", ".join(TABLES)
    conn.execute(f"DROP TABLE {live}")
    for table in TABLES:
        conn.execute(f"ALTER TABLE {table}{SUFFIX} RENAME TO {table}")
        indexes = conn.execute("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename = %s",
                               (table,)).fetchall()
        for (index,) in indexes:
            if index.startswith(table + SUFFIX):
                conn.execute(f'ALTER INDEX "{index}" RENAME TO "{table}{index[len(table) + len(SUFFIX):]}"')


def checksum(conn: psycopg.Connection, suffix: str = "") -> dict[str, str]:
    """md5 over every row of each table in key order; processed_at (when, not what) is left out."""
    view = conn.execute(
        f"SELECT md5(coalesce(string_agg(v::text, '|' ORDER BY aggregate_id), '')) FROM order_view{suffix} v").fetchone()
    versions = conn.execute(
        f"SELECT md5(coalesce(string_agg(({_VERSION_COLUMNS})::text, '|' ORDER BY aggregate_id, version), '')) "
        f"FROM order_version{suffix}").fetchone()
    return {"order_view": _first(view), "order_version": _first(versions)}


def _view_tuple(view: ViewRow) -> tuple:
    return (view.aggregate_id, view.tenant_id, view.order_id, view.version, dumps_text(view.document),
            view.is_deleted, view.contact_key, view.created_at, view.updated_at)


def _staged(tenant: UUID, view: ViewRow, versions: list[VersionRow]) -> list[tuple]:
    return [(view.aggregate_id, v.version, tenant, view.order_id, v.event_type, v.recorded_at, v.warnings)
            for v in versions]


def _first(row: object) -> str:
    return next(iter(row.values())) if isinstance(row, dict) else row[0]  # type: ignore[index, union-attr]
