"""Group commit against the real event store: concurrent commands share transactions, each keeps its own answer."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import msgspec
import pytest

from orderledger.application import OrderExists, OrderLedger
from orderledger.domain.model import OrderIn, order_data_to_document
from orderledger.domain.tenant_config import DEFAULT_CONFIG
from tests.conftest import unique
from tests.integration.helpers import an_order

pytestmark = pytest.mark.integration

THREADS = 16


@pytest.fixture
def ledger(settings):
    ledger = OrderLedger(env=settings.eventsourcing_env())
    ledger.commit_in_groups()
    yield ledger
    ledger.close()


def register(ledger: OrderLedger, tenant: str, order_id: str):
    cause = {"command": "RegisterOrder", "requestId": str(uuid.uuid4()), "apiKey": "test"}
    document = order_data_to_document(msgspec.convert(an_order(order_id), OrderIn))
    return ledger.register_order(tenant, order_id, document, cause, DEFAULT_CONFIG)


def test_concurrent_creates_share_transactions_and_are_all_stored(ledger):
    tenant = str(uuid.uuid4())
    order_ids = [unique("order") for _ in range(200)]
    start = threading.Barrier(THREADS)

    def create(chunk: list[str]) -> None:
        start.wait()
        for order_id in chunk:
            register(ledger, tenant, order_id)

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(create, [order_ids[i::THREADS] for i in range(THREADS)]))

    batches, commands = ledger.group_commit_counts()
    assert commands == 200
    assert batches < commands  # some commands shared a transaction
    assert all(ledger.get_order(tenant, order_id).version == 1 for order_id in order_ids)


def test_a_duplicate_create_in_a_shared_batch_fails_alone(ledger):
    tenant = str(uuid.uuid4())
    twice = unique("order")
    others = [unique("order") for _ in range(30)]
    start = threading.Barrier(len(others) + 2)
    outcomes: dict[str, list] = {twice: []}

    def create(order_id: str) -> None:
        start.wait()
        try:
            register(ledger, tenant, order_id)
            outcomes.setdefault(order_id, []).append("created")
        except OrderExists:
            outcomes.setdefault(order_id, []).append("exists")

    with ThreadPoolExecutor(len(others) + 2) as pool:
        list(pool.map(create, [twice, twice, *others]))

    assert sorted(outcomes[twice]) == ["created", "exists"]
    assert all(outcomes[order_id] == ["created"] for order_id in others)
    assert all(ledger.get_order(tenant, order_id).version == 1 for order_id in others)


async def test_metrics_count_the_group_commits_of_the_api(client, settings):
    from tests.conftest import make_key
    from tests.integration.helpers import Api

    api = Api(client, make_key(settings))
    for _ in range(3):
        await api.accepted("POST", "/orders", an_order(unique("order")))

    metrics = (await client.get("/metrics")).text

    values = {line.split()[0]: int(line.split()[1]) for line in metrics.splitlines()
              if line.startswith("orderledger_group_")}
    assert values["orderledger_group_committed_commands_total"] == 3  # sequential: one commit each
    assert values["orderledger_group_commits_total"] == 3
