"""The read path of one order: coalesced reads, the API's asyncpg pool, cached API keys; real PostgreSQL."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timezone
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import psycopg
import pytest

from orderledger.infrastructure.database import api_pool
from orderledger.jsoncodec import dumps_text, loads_exact
from orderledger.tenancy import KEY_CACHE_SECONDS, KeyResolver, create_key, revoke_key
from projections.order_view.batched_reads import OrderReads
from tests.conftest import unique
from tests.integration.helpers import Api, an_order

pytestmark = pytest.mark.integration

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


@pytest.fixture
async def pool(settings) -> AsyncIterator[asyncpg.Pool]:
    pool = await api_pool(settings.database_url, min_size=1, max_size=4)
    yield pool
    await pool.close()


class CountingPool:
    """The real pool, counting the queries sent through it; `hold` keeps a query's rows until it is set."""

    def __init__(self, pool: asyncpg.Pool, fail_first: bool = False, hold: bool = False) -> None:
        self.pool, self.queries, self.fail_first = pool, 0, fail_first
        self.hold: asyncio.Event | None = asyncio.Event() if hold else None
        self.answered = asyncio.Event()  # the first query has its rows (but may be held)

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        self.queries += 1
        if self.fail_first and self.queries == 1:
            raise asyncpg.PostgresError("the first query fails")
        rows = await self.pool.fetch(query, *args)
        self.answered.set()
        if self.hold is not None:
            await self.hold.wait()
        return rows


def processed(conn: psycopg.Connection, tenant: UUID, order_id: str, version: int = 1, deleted: bool = False,
              document: dict[str, Any] | None = None) -> None:
    """An order as the projection leaves it: its view and its processed versions."""
    aggregate = uuid4()
    body = document or {"status": "New", "total": "1"}
    conn.execute(
        "INSERT INTO order_view (aggregate_id, tenant_id, order_id, version, document, is_deleted, created_at, updated_at) "
        "VALUES (%s, %s, %s, %s, %s::jsonb, %s, %s, %s)",
        (aggregate, tenant, order_id, version, dumps_text(body), deleted, NOW, NOW))
    for v in range(1, version + 1):
        conn.execute(
            "INSERT INTO order_version (aggregate_id, version, tenant_id, order_id, version_tag, event_type, recorded_at) "
            "VALUES (%s, %s, %s, %s, %s, 'Order.Registered', %s)",
            (aggregate, v, tenant, order_id, f"tag-{aggregate}-{v}", NOW))


def advance(conn: psycopg.Connection, tenant: UUID, order_id: str) -> None:
    """The projection processes the order's next version."""
    aggregate, version = conn.execute(
        "UPDATE order_view SET version = version + 1 WHERE tenant_id = %s AND order_id = %s RETURNING aggregate_id, version",
        (tenant, order_id)).fetchone()
    conn.execute(
        "INSERT INTO order_version (aggregate_id, version, tenant_id, order_id, version_tag, event_type, recorded_at) "
        "VALUES (%s, %s, %s, %s, %s, 'Order.Replaced', %s)",
        (aggregate, version, tenant, order_id, f"tag-{aggregate}-{version}", NOW))


@pytest.fixture
def orders(settings) -> Iterator[tuple[UUID, UUID, psycopg.Connection]]:
    """Two tenants' ids and an autocommit connection to write views with."""
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        yield uuid4(), uuid4(), conn


# -- coalesced reads -------------------------------------------------------------


async def test_reads_asked_together_go_in_one_query_and_each_gets_its_own_answer(pool, orders):
    tenant, other, conn = orders
    ids = [unique("order") for _ in range(6)]
    for i, order_id in enumerate(ids):
        processed(conn, tenant, order_id, version=i + 1, document={"n": i, "price": "1.10"})
    processed(conn, other, "theirs")
    processed(conn, tenant, "gone", version=2, deleted=True)
    counting = CountingPool(pool)
    reads = OrderReads(counting)

    asked = [(tenant, i) for i in ids] + [(tenant, ids[0]), (tenant, "theirs"), (other, "theirs"), (tenant, "gone"),
                                         (tenant, "unknown")]
    answers = await asyncio.gather(*(reads.processed_order(t, o) for t, o in asked))

    assert counting.queries == 1
    for i, order_id in enumerate(ids):
        order = answers[i]
        assert (order.order_id, order.version, order.document["n"]) == (order_id, i + 1, i)
        assert order.version_tag.endswith(f"-{i + 1}") and order.created_at == NOW
    assert answers[len(ids)] == answers[0]  # the same order asked twice in one batch
    assert answers[len(ids)].document is not answers[0].document  # each read has a document of its own
    assert answers[len(ids) + 1] is None  # another tenant's order id
    assert answers[len(ids) + 2].order_id == "theirs"
    assert answers[len(ids) + 3] is None and answers[len(ids) + 4] is None  # deleted, unknown


async def test_a_read_asked_while_a_query_runs_waits_for_the_next_one_and_sees_what_was_processed_before(pool, orders):
    tenant, _, conn = orders
    order_id = unique("order")
    processed(conn, tenant, order_id)
    counting = CountingPool(pool, hold=True)
    reads = OrderReads(counting)

    first = asyncio.create_task(reads.processed_order(tenant, order_id))
    await asyncio.wait_for(counting.answered.wait(), 10)  # the first query has read version 1
    advance(conn, tenant, order_id)
    second = asyncio.create_task(reads.processed_order(tenant, order_id))
    await asyncio.sleep(0.05)
    assert counting.queries == 1 and not second.done()  # it waits: it must not take the first query's answer
    counting.hold.set()

    assert (await first).version == 1
    assert (await second).version == 2
    assert counting.queries == 2


async def test_an_order_id_postgresql_cannot_hold_is_not_found_and_spoils_no_other_read(pool, orders):
    tenant, _, conn = orders
    order_id = unique("order")
    processed(conn, tenant, order_id)
    reads = OrderReads(pool)

    answers = await asyncio.gather(reads.processed_order(tenant, "a\x00b"), reads.processed_order(tenant, "\udc80"),
                                   reads.processed_order(tenant, order_id))

    assert answers[0] is None and answers[1] is None
    assert answers[2].order_id == order_id


async def test_a_failed_query_fails_every_read_of_its_batch_and_the_next_reads_query_again(pool, orders):
    tenant, _, conn = orders
    order_id = unique("order")
    processed(conn, tenant, order_id)
    counting = CountingPool(pool, fail_first=True)
    reads = OrderReads(counting)

    failed = await asyncio.gather(reads.processed_order(tenant, order_id), reads.processed_order(tenant, "other"),
                                  return_exceptions=True)

    assert all(isinstance(answer, asyncpg.PostgresError) for answer in failed)
    assert (await reads.processed_order(tenant, order_id)).order_id == order_id
    assert counting.queries == 2


async def test_a_cancelled_read_leaves_the_others_of_its_batch_their_answers(pool, orders):
    tenant, _, conn = orders
    order_id = unique("order")
    processed(conn, tenant, order_id)
    counting = CountingPool(pool, hold=True)
    reads = OrderReads(counting)

    gone = asyncio.create_task(reads.processed_order(tenant, order_id))
    kept = asyncio.create_task(reads.processed_order(tenant, order_id))
    await asyncio.wait_for(counting.answered.wait(), 10)
    gone.cancel()
    counting.hold.set()

    assert (await kept).order_id == order_id
    assert gone.cancelled()
    assert (await reads.processed_order(tenant, order_id)).order_id == order_id  # and reads go on


# -- through the API -------------------------------------------------------------


async def test_concurrent_gets_answer_each_order_with_its_own_body_and_etag(client, api_key, drain):
    api = Api(client, api_key)
    ids = [unique("order") for _ in range(5)]
    for i, order_id in enumerate(ids):
        await api.accepted("POST", "/orders", an_order(order_id, status=f"S{i}"))
    drain()
    await api.accepted("PATCH", f"/orders/{ids[0]}", {"status": "Changed"})
    drain()

    answers = await asyncio.gather(*(api.send("GET", f"/orders/{order_id}") for order_id in [*ids, "unknown"]))

    for i, (order_id, answer) in enumerate(zip(ids, answers)):
        body = loads_exact(answer.content)
        assert answer.status_code == 200 and body["orderId"] == order_id
        assert body["status"] == ("Changed" if i == 0 else f"S{i}")
        assert answer.headers["etag"] == f'"{body["version"]}"' == ('"2"' if i == 0 else '"1"')
        assert list(body)[:1] == ["orderId"] and list(body)[-4:] == ["version", "versionTag", "createdAt", "updatedAt"]
    assert answers[-1].status_code == 404 and answers[-1].json()["code"] == "order_not_found"


async def test_an_order_id_with_a_nul_character_is_not_found_not_an_error(client, api_key):
    answer = await client.get("/api/v3/orders/a%00b", headers={"apikey": api_key})
    assert answer.status_code == 404 and answer.json()["code"] == "order_not_found"
    assert answer.headers["content-type"].startswith("application/problem+json")


# -- the API's pool --------------------------------------------------------------


async def test_the_api_pool_sends_no_reset_on_release(settings):
    # A released connection keeps its session as it was: no `RESET ALL` (nor the rest of asyncpg's reset) was sent.
    pool = await api_pool(settings.database_url, min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            await conn.execute("SET application_name = 'kept-by-the-api-pool'")
        async with pool.acquire() as conn:
            assert await conn.fetchval("SHOW application_name") == "kept-by-the-api-pool"
    finally:
        await pool.close()


async def test_the_api_pool_still_rolls_back_a_transaction_left_open(settings):
    pool = await api_pool(settings.database_url, min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            await conn.execute("BEGIN")
            assert conn.is_in_transaction()
        async with pool.acquire() as conn:
            assert not conn.is_in_transaction()
    finally:
        await pool.close()


# -- API keys ----------------------------------------------------------------------


async def test_a_revoked_key_stops_working_within_the_cache_time(pool, settings):
    with psycopg.connect(settings.database_url) as conn:
        tenant, key = create_key(conn, unique("tenant"))
    resolver = KeyResolver(pool, ttl=0.5)
    assert await resolver.tenant_for(key) == tenant
    with psycopg.connect(settings.database_url) as conn:
        assert revoke_key(conn, key)

    await asyncio.sleep(0.6)

    assert await resolver.tenant_for(key) is None
    assert await resolver.tenant_for("olk_" + secrets.token_urlsafe(32)) is None  # and an unknown key never works


def test_keys_are_cached_no_longer_than_the_readme_says():
    assert KEY_CACHE_SECONDS <= 30  # README: a revoked key is refused within 30 s
