"""Tenants and their API keys. Keys are shown once and stored only as SHA-256 hashes.

A key is 32 random bytes, so a fast hash is enough: there is nothing to brute
force that a slow hash would protect (unlike a password).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from uuid import UUID, uuid4

import asyncpg
import psycopg

KEY_PREFIX = "olk_"

DDL = """
CREATE TABLE IF NOT EXISTS tenant (
    tenant_id   uuid PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS api_key (
    key_hash    bytea PRIMARY KEY,
    key_hint    text NOT NULL,
    tenant_id   uuid NOT NULL REFERENCES tenant,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
"""


@dataclass(frozen=True, slots=True)
class Tenant:
    tenant_id: UUID
    name: str


def hash_key(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def create_key(conn: psycopg.Connection, tenant_name: str) -> tuple[Tenant, str]:
    """Make a new key for the tenant, creating the tenant if it is new. Returns the key in clear, once."""
    with conn.transaction():
        row = conn.execute(
            """
            INSERT INTO tenant (tenant_id, name) VALUES (%s, %s)
            ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name
            RETURNING tenant_id, name
            """,
            (uuid4(), tenant_name),
        ).fetchone()
        assert row is not None
        tenant = Tenant(row[0], row[1])
        key = new_key()
        conn.execute(
            "INSERT INTO api_key (key_hash, key_hint, tenant_id) VALUES (%s, %s, %s)",
            (hash_key(key), key[: len(KEY_PREFIX) + 4], tenant.tenant_id),
        )
    return tenant, key


def revoke_key(conn: psycopg.Connection, key: str) -> bool:
    with conn.transaction():
        cursor = conn.execute(
            "UPDATE api_key SET revoked_at = now() WHERE key_hash = %s AND revoked_at IS NULL", (hash_key(key),)
        )
        return cursor.rowcount == 1


# How long an API process remembers what a key resolved to: a revoked key is refused within this time.
KEY_CACHE_SECONDS = 30.0


class KeyResolver:
    """Finds the tenant of an API key, remembering answers briefly so each request costs no query.

    A revoked key stops working within `ttl` seconds.
    """

    def __init__(self, pool: asyncpg.Pool, ttl: float = KEY_CACHE_SECONDS) -> None:
        self._pool = pool
        self._ttl = ttl
        self._cache: dict[bytes, tuple[float, Tenant | None]] = {}

    async def tenant_for(self, key: str) -> Tenant | None:
        digest = hash_key(key)
        now = time.monotonic()
        hit = self._cache.get(digest)
        if hit is not None and hit[0] > now:
            return hit[1]
        row = await self._pool.fetchrow(
            """
            SELECT t.tenant_id, t.name FROM api_key k JOIN tenant t USING (tenant_id)
            WHERE k.key_hash = $1 AND k.revoked_at IS NULL
            """,
            digest,
        )
        tenant = Tenant(row["tenant_id"], row["name"]) if row else None
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[digest] = (now + self._ttl, tenant)
        return tenant
