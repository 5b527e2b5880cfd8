"""Helpers for the history tests."""

from __future__ import annotations

from uuid import UUID

import psycopg

from orderledger.tenancy import hash_key


def tenant_of(settings, key: str) -> UUID:
    """The tenant an API key belongs to, straight from the database."""
    with psycopg.connect(settings.database_url) as conn:
        return conn.execute("SELECT tenant_id FROM api_key WHERE key_hash = %s", (hash_key(key),)).fetchone()[0]
