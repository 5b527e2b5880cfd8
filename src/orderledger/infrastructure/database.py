"""Database-level chores: make sure the service's database exists on a server; the API's asyncpg pool."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import asyncpg
import psycopg
from psycopg import sql


def with_database(server_url: str, dbname: str) -> str:
    parts = urlsplit(server_url)
    return urlunsplit(parts._replace(path=f"/{dbname}"))


def ensure_database(server_url: str, dbname: str) -> str:
    """Create `dbname` on the server if it is missing; return its URL."""
    with psycopg.connect(with_database(server_url, "postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    return with_database(server_url, dbname)


def drop_database(server_url: str, dbname: str) -> None:
    with psycopg.connect(with_database(server_url, "postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))


async def _keep_session(_connection: asyncpg.Connection) -> None:
    """Nothing to undo: the API's statements leave no session state behind (see `api_pool`)."""


async def api_pool(database_url: str, *, min_size: int = 2, max_size: int = 16) -> asyncpg.Pool:
    """The API's asyncpg pool, without asyncpg's reset query on release.

    By default every release sends `SELECT pg_advisory_unlock_all(); CLOSE ALL;
    UNLISTEN *; RESET ALL`: a second round trip per read, a fifth of an order
    read's time. The API's statements on this pool hold none of that state: no
    advisory lock, no session `SET`, no LISTEN, no cursor left open. asyncpg
    still rolls back a transaction left open and drops listeners on release,
    whatever `reset` is. Code that needs session state (a session advisory lock,
    LISTEN) must take a connection of its own, not one from this pool.
    """
    return await asyncpg.create_pool(database_url, min_size=min_size, max_size=max_size, reset=_keep_session)
