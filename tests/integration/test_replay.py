"""Rebuilding the read models from the event store: the same rows, while the service serves and writes go on.

These tests use a database of their own: a rebuild covers every order in it,
and the lag figures count every event.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from dataclasses import replace
from decimal import Decimal

import psycopg
import pytest
from click.testing import CliRunner

from orderledger.cli import main
from orderledger.domain.ids import order_aggregate_id
from orderledger.infrastructure.event_reads import EVENTS_TABLE
from orderledger.infrastructure.database import drop_database, ensure_database
from orderledger.infrastructure.migrations import migrate
from orderledger.infrastructure.queue import order_queue
from projections.locks import REBUILD_OR_ERASURE
from projections.order_view.rebuild import checksum
from projections.order_view.updater import project_order
from projections.replay import RebuildBusy, replay
from tests.conftest import make_key, unique
from tests.e2e.helpers import service_env
from tests.integration.helpers import Api, an_order
from tests.integration.history_helpers import tenant_of
from tests.integration.test_upcast_store import first_release_row

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def own_database(server_urls, base_settings):
    server_url, _ = server_urls
    name = f"orderledger_test_{uuid.uuid4().hex[:8]}"
    settings = replace(base_settings, database_url=ensure_database(server_url, name))
    migrate(settings)
    yield settings
    drop_database(server_url, name)


@pytest.fixture
def settings(own_database):
    return replace(own_database, queue_name=unique("q"))


@pytest.fixture
def api(client, api_key) -> Api:
    return Api(client, api_key)


def checksums(settings) -> dict[str, str]:
    with psycopg.connect(settings.database_url) as conn:
        return checksum(conn)


async def some_history(api: Api, drain) -> list[str]:
    """Orders created, replaced, patched, re-statused, one deleted, one erased; all processed."""
    orders = [unique("order") for _ in range(6)]
    for n, order_id in enumerate(orders):
        await api.accepted("POST", "/orders", an_order(order_id, contact={"matchKey": f"c{n % 2}-{order_id}@example.com"},
                                                       customer={"firstName": f"Name{n}"}))
    replaced = an_order(orders[0], status="Paid")
    replaced["items"] = [{"sku": "SKU-9", "quantity": 1, "grossPaidPrice": Decimal("250.00"), "taxPercent": 25,
                          "taxAmount": Decimal("50.00")}]
    await api.accepted("PUT", f"/orders/{orders[0]}", replaced)
    await api.accepted("PATCH", f"/orders/{orders[1]}", {"state": "quotation", "delivery": {"method": "DHL"}})
    await api.accepted("POST", f"/orders/{orders[2]}/change-status", {"status": "Shipped"})
    await api.accepted("DELETE", f"/orders/{orders[3]}")
    drain()
    erased = await api.send("POST", "/admin/erasures", {"contact": f"c0-{orders[4]}@example.com"})
    assert erased.json()["keysDestroyed"] == 1
    return orders


def rebuild(settings, worker_context, **hooks):
    return replay(settings.database_url, worker_context.ledger, worker_context.keyring, **hooks)


async def test_a_replay_rebuilds_exactly_the_rows_the_jobs_built(api, drain, settings, worker_context):
    await some_history(api, drain)
    before = checksums(settings)

    report = rebuild(settings, worker_context)

    assert report.events >= 12 and report.orders >= 6
    assert checksums(settings) == before


async def test_a_replay_of_every_kind_of_event_a_first_release_event_and_an_erased_contact_equals_the_jobs(
    api, api_key, drain, settings, worker_context
):
    """The replay decodes and folds its own way (one msgspec walk, plain-dict fold): the same rows all the same."""
    lines = an_order("x")["items"]
    kept, erased, lonely = unique("order"), unique("order"), unique("order")
    personal = {"customer": {"firstName": "Ada", "email": "ada@example.com"}, "specialInstructions": "ring twice",
                "shippingAddress": {"street": "Gatan 1", "city": "Lund", "country": "SE"},
                "createdDate": "2026-11-01T10:00:00Z", "dueDate": "2026-11-02T10:00:00.250+05:30"}
    await api.accepted("POST", "/orders", an_order(kept, contact={"matchKey": unique("c") + "@example.com"}, **personal))
    await api.accepted("POST", "/orders", an_order(erased, contact={"matchKey": "gone@example.com"}, **personal))
    await api.accepted("POST", "/orders", an_order(lonely, contact=None, customer={"firstName": "Nobody"}))
    # A line changed and one added, a header field removed, a status set; then the delivery.
    await api.accepted("PATCH", f"/orders/{kept}", {"items": [lines[0], {**lines[1], "quantity": 3}, {"sku": "SKU-3"}],
                                                    "paymentMethods": None, "status": "Paid"})
    await api.accepted("POST", f"/orders/{kept}/change-delivery", {"method": "DHL", "trackingNumber": "T-1"})
    await api.accepted("POST", f"/orders/{erased}/change-status", {"status": "Shipped"})
    one_line = {"items": lines[:1], "totalGrossPrice": Decimal("200.00"), "totalTax": Decimal("40.00"),
                "paymentMethods": [{"type": "card", "value": Decimal("200.00")}]}
    await api.accepted("PUT", f"/orders/{erased}",
                       an_order(erased, contact={"matchKey": "gone@example.com"}, **personal, **one_line))
    await api.accepted("DELETE", f"/orders/{lonely}")
    drain()
    tenant_id = tenant_of(settings, api_key)
    old = order_aggregate_id(str(tenant_id), unique("old"))
    with psycopg.connect(settings.database_url) as conn:
        conn.execute(f"INSERT INTO {EVENTS_TABLE} (originator_id, originator_version, topic, state) VALUES (%s, 1, %s, %s)",
                     (old, "orderledger.order.Registered", first_release_row(str(tenant_id), "old-order")))
    with worker_context.pool.connection() as conn:
        assert project_order(conn, worker_context.ledger, worker_context.keyring, old) == 1
    assert (await api.send("POST", "/admin/erasures", {"contact": "gone@example.com"})).json()["keysDestroyed"] == 1
    before = checksums(settings)

    report = rebuild(settings, worker_context)

    assert checksums(settings) == before
    assert report.events >= 10
    gone = await api.get_json(f"/orders/{erased}")
    assert gone["customer"]["firstName"] == "[erased]" and gone["items"][0]["sku"] == "SKU-1"
    assert (await api.get_json("/orders/old-order"))["items"][0]["sku"] == "A"
    shown = await api.get_json(f"/orders/{kept}")
    assert shown["customer"]["firstName"] == "Ada" and shown["delivery"]["trackingNumber"] == "T-1"
    assert [line["sku"] for line in shown["items"]] == ["SKU-1", "SKU-2", "SKU-3"] and "paymentMethods" not in shown


async def test_dropped_read_models_are_rebuilt_identically_and_served(api, drain, settings, worker_context):
    orders = await some_history(api, drain)
    job = await api.accepted("PATCH", f"/orders/{orders[5]}", {"status": "Paid"})
    drain()
    tag = (await api.job(job["jobId"]))["versionTag"]
    before = checksums(settings)
    with psycopg.connect(settings.database_url) as conn:
        conn.execute("DROP TABLE order_view, order_version")

    rebuild(settings, worker_context)

    assert checksums(settings) == before
    assert (await api.get_json(f"/orders/{orders[5]}"))["versionTag"] == tag
    assert (await api.job(job["jobId"]))["status"] == "Completed"


async def test_a_replay_serves_the_old_tables_meanwhile_catches_up_and_fires_nothing(api, drain, settings, worker_context, redis):
    orders = await some_history(api, drain)
    paused, go_on = threading.Event(), threading.Event()

    def hold_after_first_stream(events: int) -> None:
        if not paused.is_set():
            paused.set()
            go_on.wait(60)

    running = asyncio.create_task(asyncio.to_thread(rebuild, settings, worker_context, on_progress=hold_after_first_stream))
    while not paused.is_set():
        await asyncio.sleep(0.01)
    # Mid-rebuild: reads are served, commands are taken and processed into the tables in service.
    assert (await api.get_json(f"/orders/{orders[0]}"))["status"] == "Paid"
    late = unique("order")
    created = await api.accepted("POST", "/orders", an_order(late))
    changed = await api.accepted("POST", f"/orders/{orders[1]}/change-status", {"status": "Shipped"})
    drain()
    tags = {j["jobId"]: (await api.job(j["jobId"]))["versionTag"] for j in (created, changed)}
    deliveries_before = _count(settings, "webhook_delivery")
    go_on.set()
    report = await running

    assert report.caught_up >= 2
    assert (await api.get_json(f"/orders/{late}"))["versionTag"] == tags[created["jobId"]]
    assert (await api.get_json(f"/orders/{orders[1]}"))["status"] == "Shipped"
    assert {j: (await api.job(j))["versionTag"] for j in tags} == tags
    assert order_queue(redis, settings.queue_name).count == 0  # the rebuild enqueued no job
    assert _count(settings, "webhook_delivery") == deliveries_before  # nor recorded any webhook


def _count(settings, table: str) -> int | None:
    with psycopg.connect(settings.database_url) as conn:
        exists = conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()[0]
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] if exists else None


def test_one_rebuild_at_a_time(settings, worker_context):
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s, %s)", REBUILD_OR_ERASURE)
        with pytest.raises(RebuildBusy):
            rebuild(settings, worker_context)


async def test_lag_shows_in_status_and_metrics_until_the_worker_catches_up(api, client, drain, settings):
    drain()
    await api.accepted("POST", "/orders", an_order(unique("order")))
    await api.accepted("POST", "/orders", an_order(unique("order")))
    cli = CliRunner()
    env = service_env(settings)

    behind = cli.invoke(main, ["status"], env=env)
    metrics = (await client.get("/metrics")).text
    drain()
    caught_up = cli.invoke(main, ["status"], env=env)

    assert behind.exit_code == 0, behind.output
    assert behind.output.splitlines()[1].split("\t")[3] == "2"
    assert 'orderledger_projection_lag_events{projection="order_view"} 2' in metrics
    assert "orderledger_projection_lag_seconds" in metrics
    assert caught_up.output.splitlines()[1].split("\t")[3:] == ["0", "0.0"]


def test_the_replay_command_reports_its_rate(settings, worker_context):
    result = CliRunner().invoke(main, ["replay", "--quiet"], env=service_env(settings))
    assert result.exit_code == 0, result.output
    assert "events/s" in result.output and "switched over" in result.output


async def test_the_export_command_writes_every_event_and_counts_them(client, settings, drain, tmp_path):
    name = unique("tenant")
    api = Api(client, make_key(settings, name))
    for _ in range(3):
        await api.accepted("POST", "/orders", an_order(unique("order")))
    drain()
    cli, env = CliRunner(), service_env(settings)

    events = cli.invoke(main, ["export", "--tenant", name, "--format", "csv", "--out", str(tmp_path / "e.csv")], env=env)
    orders = cli.invoke(main, ["export", "--tenant", name, "--what", "orders", "--out", str(tmp_path / "o.ndjson")], env=env)
    parquet = cli.invoke(main, ["export", "--tenant", name, "--format", "parquet", "--out", str(tmp_path / "e.parquet")],
                         env=env)

    assert events.exit_code == 0 and "exported 3 events" in events.output
    assert (tmp_path / "e.csv").read_text().splitlines()[0].startswith("cursor,orderId,version,type,time")
    assert len((tmp_path / "e.csv").read_text().splitlines()) == 4
    assert orders.exit_code == 0 and len((tmp_path / "o.ndjson").read_bytes().splitlines()) == 3
    assert parquet.exit_code == 0, parquet.output
    import pyarrow.parquet as pq

    table = pq.read_table(tmp_path / "e.parquet")
    assert table.num_rows == 3 and "orderId" in table.column_names
