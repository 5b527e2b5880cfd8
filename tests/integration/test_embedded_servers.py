"""The embedded PostgreSQL and Valkey servers start, serve, stop and keep their data."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
import redis

from orderledger.infrastructure.embedded import EmbeddedServerError, start_postgres, start_valkey

pytestmark = pytest.mark.integration


def test_postgres_serves_and_keeps_data_across_restart(tmp_path: Path) -> None:
    server = start_postgres(tmp_path)
    try:
        with psycopg.connect(server.url, autocommit=True) as conn:
            assert conn.execute("select 1").fetchone() == (1,)
            conn.execute("create table kept (id int primary key)")
            conn.execute("insert into kept values (42)")
    finally:
        server.stop()
    assert not server.is_running()
    server.stop()  # idempotent

    server = start_postgres(tmp_path)
    try:
        with psycopg.connect(server.url) as conn:
            assert conn.execute("select id from kept").fetchall() == [(42,)]
    finally:
        server.stop()


def test_valkey_keeps_data_across_restart(tmp_path: Path) -> None:
    server = start_valkey(tmp_path, persist=True)
    try:
        client = redis.Redis.from_url(server.url)
        client.set("kept", "yes")
        client.close()
    finally:
        server.stop()
    assert not server.is_running()

    server = start_valkey(tmp_path, persist=True)
    try:
        client = redis.Redis.from_url(server.url)
        assert client.get("kept") == b"yes"
        client.close()
    finally:
        server.stop()


def test_second_postgres_on_same_data_dir_is_refused(tmp_path: Path) -> None:
    server = start_postgres(tmp_path)
    try:
        with pytest.raises(EmbeddedServerError, match=rf"pid {server.process.pid}"):
            start_postgres(tmp_path)
        assert server.is_running()
    finally:
        server.stop()
