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
from uuid import UUID

import psycopg

from orderledger.application import OrderLedger
from orderledger.domain.order import Order
from orderledger.domain.version_tag import TagKeyring
from orderledger.jsoncodec import dumps_text
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

_UPSERT_VIEW = """
INSERT INTO {view} ({columns}) VALUES (%s, %s, %s, %s, %s::jsonb, %s, %s, %s, %s)
ON CONFLICT (aggregate_id) DO UPDATE SET
    version = EXCLUDED.version, document = EXCLUDED.document, is_deleted = EXCLUDED.is_deleted,
    contact_key = EXCLUDED.contact_key, created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at
"""

# From the staging rows into the fresh table, keeping what the live table already issued.
_KEEP_ISSUED = """
INSERT INTO {versions} ({columns}, processed_at)
SELECT s.aggregate_id, s.version, s.tenant_id, s.order_id, coalesce(l.version_tag, s.version_tag), s.event_type,
       s.recorded_at, s.warnings, coalesce(l.processed_at, clock_timestamp())
FROM order_version_staging s LEFT JOIN order_version l ON l.aggregate_id = s.aggregate_id AND l.version = s.version
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
    """Folds whole streams and writes their rows into the fresh tables: in COPY batches, or one order at a time."""

    def __init__(self, conn: psycopg.Connection, keyring: TagKeyring, batch: int = 1000) -> None:
        self._conn, self._keyring, self._batch = conn, keyring, batch
        self._views: list[tuple] = []
        self._versions: list[tuple] = []
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS order_version_staging "
                     "(LIKE order_version INCLUDING DEFAULTS) ON COMMIT PRESERVE ROWS")

    def add(self, events: list[Order.Event]) -> None:
        """Buffer the rows of an order not yet in the fresh tables."""
        result = fold(events, 0)
        if result is None:
            return
        view, versions = result
        self._views.append(_view_tuple(view))
        self._versions.extend(_version_tuples(self._keyring, view, versions))
        if len(self._views) >= self._batch:
            self.flush()

    def flush(self) -> None:
        if not self._views:
            return
        with self._conn.transaction(), self._conn.cursor() as cursor:
            with cursor.copy(f"COPY order_view{SUFFIX} ({_VIEW_COLUMNS}) FROM STDIN") as copy:
                for row in self._views:
                    copy.write_row(row)
            self._write_versions(cursor, self._versions)
        self._views, self._versions = [], []

    def rewrite(self, ledger: OrderLedger, aggregate_ids: Iterable[UUID]) -> int:
        """Fold these orders' whole streams again into the fresh tables (catching up); returns how many."""
        self.flush()
        written = 0
        for aggregate_id in aggregate_ids:
            result = fold(ledger.stream(aggregate_id), 0)
            if result is None:
                continue
            view, versions = result
            with self._conn.transaction(), self._conn.cursor() as cursor:
                cursor.execute(_UPSERT_VIEW.format(view=f"order_view{SUFFIX}", columns=_VIEW_COLUMNS), _view_tuple(view))
                self._write_versions(cursor, _version_tuples(self._keyring, view, versions))
            written += 1
        return written

    @staticmethod
    def _write_versions(cursor: psycopg.Cursor, rows: list[tuple]) -> None:
        with cursor.copy(f"COPY order_version_staging ({_VERSION_COLUMNS}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cursor.execute(_KEEP_ISSUED.format(versions=f"order_version{SUFFIX}", columns=_VERSION_COLUMNS))
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


def _version_tuples(keyring: TagKeyring, view: ViewRow, versions: list[VersionRow]) -> list[tuple]:
    tenant = UUID(view.tenant_id)
    return [(view.aggregate_id, v.version, tenant, view.order_id, keyring.issue(tenant, view.aggregate_id, v.version),
             v.event_type, v.recorded_at, dumps_text(v.warnings)) for v in versions]


def _first(row: object) -> str:
    return next(iter(row.values())) if isinstance(row, dict) else row[0]  # type: ignore[index, union-attr]
