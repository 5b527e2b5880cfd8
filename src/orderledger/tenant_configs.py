"""Where each tenant's validation configuration is kept (PostgreSQL), with a short read cache for the API."""

from __future__ import annotations

import time
from uuid import UUID

import asyncpg
import psycopg

from orderledger.domain.tenant_config import DEFAULT_CONFIG, TenantConfig, config_from_json, config_to_builtins
from orderledger.jsoncodec import dumps_text

DDL = """
CREATE TABLE IF NOT EXISTS tenant_config (
    tenant_id   uuid PRIMARY KEY REFERENCES tenant,
    config      jsonb NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
"""

_UPSERT = """
INSERT INTO tenant_config (tenant_id, config, updated_at) VALUES ({0}, {1}::jsonb, now())
ON CONFLICT (tenant_id) DO UPDATE SET config = EXCLUDED.config, updated_at = now()
"""


def load_config(conn: psycopg.Connection, tenant_id: UUID) -> TenantConfig:
    row = conn.execute("SELECT config::text FROM tenant_config WHERE tenant_id = %s", (tenant_id,)).fetchone()
    return config_from_json(row[0].encode()) if row else DEFAULT_CONFIG


def save_config(conn: psycopg.Connection, tenant_id: UUID, config: TenantConfig) -> None:
    with conn.transaction():
        conn.execute(_UPSERT.format("%s", "%s"), (tenant_id, dumps_text(config_to_builtins(config))))


class ConfigStore:
    """Tenant configurations for the API. A change is seen by every API process within `ttl` seconds."""

    def __init__(self, pool: asyncpg.Pool, ttl: float = 5.0) -> None:
        self._pool, self._ttl = pool, ttl
        self._cache: dict[UUID, tuple[float, TenantConfig]] = {}

    async def get(self, tenant_id: UUID) -> TenantConfig:
        hit = self._cache.get(tenant_id)
        now = time.monotonic()
        if hit and hit[0] > now:
            return hit[1]
        text = await self._pool.fetchval("SELECT config::text FROM tenant_config WHERE tenant_id = $1", tenant_id)
        config = config_from_json(text.encode()) if text else DEFAULT_CONFIG
        self._cache[tenant_id] = (now + self._ttl, config)
        return config

    async def put(self, tenant_id: UUID, config: TenantConfig) -> None:
        await self._pool.execute(_UPSERT.format("$1", "$2"), tenant_id, dumps_text(config_to_builtins(config)))
        self._cache.pop(tenant_id, None)
