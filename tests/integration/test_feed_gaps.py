"""The tenant feed is gap-safe: a reader never skips an event that a slower transaction commits later
with a lower notification id, even when writers bypass the store's table lock."""

from __future__ import annotations

import threading
import time
import uuid

import psycopg
import pytest

from orderledger.application import OrderLedger
from orderledger.domain.order import Order
from orderledger.domain.tenant_config import TenantConfig
from orderledger.history.feed import FeedReader
from orderledger.history.horizon import HorizonTimeout, safe_head
from orderledger.infrastructure.event_reads import EVENTS_TABLE

pytestmark = pytest.mark.integration

CAUSE = {"command": "test", "requestId": "r", "apiKey": "olk_test"}
DOCUMENT = {"contact": {"matchKey": "gap@example.com"}, "customer": {"firstName": "Gap"}, "items": []}


@pytest.fixture
def ledgers(settings):
    """A ledger that takes the store's EXCLUSIVE table lock per insert, and one whose DB-function path takes none."""
    locking = OrderLedger(env=settings.eventsourcing_env())
    unlocked = OrderLedger(env={**settings.eventsourcing_env(), "POSTGRES_ENABLE_DB_FUNCTIONS": "y"})
    yield locking, unlocked
    locking.close()
    unlocked.close()


def follow(settings, ledger: OrderLedger, tenant: str, until: threading.Event, page_size: int = 7) -> list[int]:
    """Follow the tenant's feed like a client, until `until` is set and a last pass finds nothing new."""
    reader, seen, after = FeedReader(ledger, tenant), [], 0
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        while True:
            done = until.is_set()
            page = reader.page(conn, after, page_size, safe_head(conn))
            seen += [e.position for e in page]
            after = page[-1].position if page else after
            if done and not page:
                return seen


def store_positions(settings, tenant: str) -> list[int]:
    with psycopg.connect(settings.database_url) as conn:
        rows = conn.execute(f"SELECT notification_id FROM {EVENTS_TABLE} WHERE orderledger_event_tenant(state) = %s "
                            "ORDER BY notification_id", (tenant,)).fetchall()
    return [row[0] for row in rows]


def test_the_feed_waits_for_an_event_a_slower_transaction_still_holds(settings, ledgers):
    locking, unlocked = ledgers
    tenant = str(uuid.uuid4())
    locking.register_order(tenant, "before", DOCUMENT, CAUSE, TenantConfig())
    # A slow writer draws an id and holds it uncommitted, as the library's DB-function path would (no table lock).
    slow_order = Order.register(tenant, "slow", {"items": []}, CAUSE)
    stored = locking.mapper.to_stored_event(slow_order.collect_events()[0])
    slow = psycopg.connect(settings.database_url)
    held = slow.execute(
        f"INSERT INTO {EVENTS_TABLE} (originator_id, originator_version, topic, state) VALUES (%s, %s, %s, %s) "
        "RETURNING notification_id", (stored.originator_id, stored.originator_version, stored.topic, stored.state),
    ).fetchone()[0]
    try:
        for n in range(5):  # faster writers commit after it, with higher ids
            unlocked.register_order(tenant, f"after-{n}", DOCUMENT, CAUSE, TenantConfig())
        with psycopg.connect(settings.database_url, autocommit=True) as conn:
            above = conn.execute(f"SELECT count(*) FROM {EVENTS_TABLE} WHERE notification_id > %s", (held,)).fetchone()[0]
            assert above >= 5  # the premise: a reader going by the highest visible id would pass `held` now
            with pytest.raises(HorizonTimeout):
                safe_head(conn, wait=0.2)

        done = threading.Event()
        done.set()
        result: list[list[int]] = []
        reader = threading.Thread(target=lambda: result.append(follow(settings, locking, tenant, done)))
        reader.start()
        reader.join(0.5)
        assert reader.is_alive()  # it waits for the slow writer rather than read past it
        slow.commit()
        reader.join(10)
    finally:
        slow.close()

    assert result and result[0] == store_positions(settings, tenant)
    assert held in result[0] and len(result[0]) == 7


def test_concurrent_writers_and_a_following_reader_skip_nothing_and_repeat_nothing(settings, ledgers):
    tenant = str(uuid.uuid4())
    stop_at = time.monotonic() + 3.0
    written = [0]

    def write(ledger: OrderLedger, name: str) -> None:
        n = 0
        while time.monotonic() < stop_at:
            order_id = f"{name}-{n}"
            ledger.register_order(tenant, order_id, DOCUMENT, CAUSE, TenantConfig())
            ledger.change_status(tenant, order_id, {"status": "Paid"}, CAUSE, TenantConfig())
            written[0] += 2
            n += 1

    writers = [threading.Thread(target=write, args=(ledgers[k % 2], f"w{k}")) for k in range(6)]
    writing_done = threading.Event()
    read: list[list[int]] = []
    reader = threading.Thread(target=lambda: read.append(follow(settings, ledgers[0], tenant, writing_done)))
    reader.start()
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    writing_done.set()
    reader.join(30)

    positions = read[0]
    assert positions == store_positions(settings, tenant)  # everything, in commit order
    assert len(positions) == len(set(positions)) == written[0] > 0
