"""What the API's handlers use, built once per app from settings (the API half of the composition root)."""

from __future__ import annotations

from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import AsyncIterator

import asyncpg
import redis
import redis.asyncio as aioredis
from redis.backoff import NoBackoff
from redis.retry import Retry
from rq import Queue

from orderledger.application import OrderLedger
from orderledger.domain.version_tag import TagKeyring
from orderledger.infrastructure.database import api_pool
from orderledger.infrastructure.projection_requests import ProjectionRequester
from orderledger.infrastructure.queue import order_queue
from orderledger.settings import Settings
from orderledger.tenancy import KeyResolver
from orderledger.tenant_configs import ConfigStore
from projections.order_view.batched_reads import OrderReads


@dataclass
class ApiServices:
    settings: Settings
    ledger: OrderLedger  # blocking: call from a worker thread
    queue: Queue  # blocking: call from a worker thread
    projection_requests: ProjectionRequester
    pool: asyncpg.Pool
    orders: OrderReads  # reads of processed orders, coalesced under load
    redis: aioredis.Redis
    keys: KeyResolver
    configs: ConfigStore
    keyring: TagKeyring


@asynccontextmanager
async def open_services(settings: Settings) -> AsyncIterator[ApiServices]:
    pool = await api_pool(settings.database_url)
    async_redis = aioredis.Redis.from_url(settings.redis_url)
    # Short timeouts: if Redis is down a command still answers 202 quickly (the sweeper catches up).
    # and no retries: a hung Redis must not hold a committed command's answer for seconds.
    sync_redis = redis.Redis.from_url(
        settings.redis_url, socket_timeout=2, socket_connect_timeout=2, retry=Retry(NoBackoff(), 0)
    )
    ledger = OrderLedger(env=settings.eventsourcing_env())
    ledger.commit_in_groups()  # the command threads' saves share transactions (group_commit)
    queue = order_queue(sync_redis, settings.queue_name)
    requests = ProjectionRequester(queue)
    try:
        yield ApiServices(
            settings=settings,
            ledger=ledger,
            queue=queue,
            projection_requests=requests,
            pool=pool,
            orders=OrderReads(pool),
            redis=async_redis,
            keys=KeyResolver(pool),
            configs=ConfigStore(pool),
            keyring=settings.keyring(),
        )
    finally:
        requests.close()
        ledger.close()
        sync_redis.close()
        await async_redis.aclose()
        await pool.close()
