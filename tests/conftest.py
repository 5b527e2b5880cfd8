"""Shared fixtures: real PostgreSQL and Redis for the whole session.

By default the session starts its own embedded servers in a temporary folder.
With ORDERLEDGER_DATABASE_URL / ORDERLEDGER_REDIS_URL set it uses those servers
instead, in a database of its own that it drops at the end. Each test gets its
own queue name and tenant, so tests never see each other's work.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest
from redis import Redis

from orderledger.infrastructure.database import drop_database, ensure_database
from orderledger.infrastructure.migrations import migrate
from orderledger.settings import Settings
from orderledger.tenancy import create_key


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def server_urls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(database server URL, redis URL) of real servers for this test session."""
    database_url = os.environ.get("ORDERLEDGER_DATABASE_URL")
    redis_url = os.environ.get("ORDERLEDGER_REDIS_URL")
    started = []
    data_dir = None
    if not database_url or not redis_url:
        from orderledger.infrastructure.embedded import start_postgres, start_valkey

        # Not under pytest's basetemp: any other pytest session resets that tree to 0700, and
        # PostgreSQL (run as an unprivileged user when we are root) would lose its data folder.
        data_dir = Path(tempfile.mkdtemp(prefix="orderledger-test-servers-"))
    if not database_url:
        started.append(start_postgres(data_dir / "pg"))
        database_url = started[-1].url
    if not redis_url:
        started.append(start_valkey(data_dir / "valkey", persist=False))
        redis_url = started[-1].url
    try:
        yield database_url, redis_url
    finally:
        for server in reversed(started):
            server.stop()
        if data_dir is not None:
            shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def base_settings(server_urls: tuple[str, str]) -> Iterator[Settings]:
    server_url, redis_url = server_urls
    dbname = f"orderledger_test_{uuid.uuid4().hex[:8]}"
    settings = Settings(
        database_url=ensure_database(server_url, dbname),
        redis_url=redis_url,
        tag_secrets=f"1:{secrets.token_urlsafe(16)}",
        data_dir=Path("/nonexistent"),
    )
    migrate(settings)
    try:
        yield settings
    finally:
        drop_database(server_url, dbname)


@pytest.fixture
def settings(base_settings: Settings) -> Settings:
    """Settings with a queue of this test's own."""
    return replace(base_settings, queue_name=unique("q"))


@pytest.fixture
def redis(settings: Settings) -> Iterator[Redis]:
    client = Redis.from_url(settings.redis_url)
    yield client
    client.close()


def make_key(settings: Settings, tenant: str | None = None) -> str:
    with psycopg.connect(settings.database_url) as conn:
        _, key = create_key(conn, tenant or unique("tenant"))
    return key


@pytest.fixture
def api_key(settings: Settings) -> str:
    return make_key(settings)
