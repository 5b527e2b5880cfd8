"""Webhook deliveries against a real local receiver: retries, dead letters, redelivery, order changes, recovery."""

from __future__ import annotations

from dataclasses import replace
from uuid import uuid4

import psycopg
import pytest
from click.testing import CliRunner
from litestar.testing import AsyncTestClient

from orderledger.api.app import create_app
from orderledger.automation.dispatch import webhook_queue
from orderledger.cli import main
from tests.conftest import make_key, unique
from tests.integration.automation import (  # noqa: F401  (fixtures)
    api, processed_tag, receiver, settings, settle, subscribe, verify_as_a_receiver,
)
from tests.integration.helpers import Api, an_order
from tests.receiver import running_receiver
from workers.delivery_sweep import DeliverySweep

pytestmark = pytest.mark.integration


async def acted(api: Api, settle, action: str = "ConfirmOrder") -> tuple[str, str]:
    """A processed order and an action on it: (orderId, action jobId)."""
    order_id = unique("order")
    job = (await api.accepted("POST", "/orders", an_order(order_id)))["jobId"]
    tag = await processed_tag(api, settle, job)
    return order_id, (await api.accepted("POST", f"/orders/{order_id}/action", {"action": action, "versionTag": tag}))["jobId"]


async def test_a_receiver_answering_500_twice_gets_three_tries_and_one_success(api, settle):
    with running_receiver(statuses=[500, 500]) as receiver:
        subscription = await subscribe(api, receiver.url, actions=["ConfirmOrder"])
        order_id, job = await acted(api, settle)
        settle()
        tries = receiver.wait_for(3)

    assert [t.answered for t in tries] == [500, 500, 200]
    assert len({t.headers["x-orderledger-delivery"] for t in tries}) == 1 and len({t.body for t in tries}) == 1
    assert all(verify_as_a_receiver(subscription["secret"], t.headers, t.body) for t in tries)
    [delivery] = (await api.get_json(f"/orders/{order_id}/deliveries"))["items"]
    assert (delivery["status"], delivery["attemptCount"], delivery["event"], delivery["action"]) == ("delivered", 3, "action", "ConfirmOrder")
    assert [a["statusCode"] for a in delivery["attempts"]] == [500, 500, 200]
    assert all(a["latencyMs"] >= 0 for a in delivery["attempts"])
    assert (await api.job(job))["status"] == "Completed"


async def test_a_delivery_is_dead_after_its_last_try_and_can_be_redelivered(api, settle):
    with running_receiver(default=503) as receiver:
        await subscribe(api, receiver.url, actions=["ConfirmOrder"])
        order_id, job = await acted(api, settle)
        settle()
        receiver.wait_for(3)
        [dead] = (await api.get_json(f"/orders/{order_id}/deliveries"))["items"]
        assert (dead["status"], dead["attemptCount"], dead["lastStatusCode"]) == ("dead", 3, 503)
        failed = await api.job(job)
        assert failed["status"] == "Failed" and failed["errors"][0]["code"] == "delivery_failed"

        receiver.default = 200
        path = f"/orders/{order_id}/deliveries/{dead['deliveryId']}/redeliver"
        answer = await api.send("POST", path)
        assert answer.status_code == 202 and answer.json()["attempt"] == 4
        assert (await api.send("POST", path)).json()["code"] == "delivery_not_dead"
        settle()
        tries = receiver.wait_for(4)

    assert tries[3].answered == 200 and tries[3].body == tries[0].body
    assert tries[3].headers["x-orderledger-delivery"] == dead["deliveryId"]
    assert (await api.job(job))["status"] == "Completed"


async def test_a_deliberate_refusal_is_dead_at_once(api, settle):
    with running_receiver(default=410) as receiver:
        await subscribe(api, receiver.url, actions=["ConfirmOrder"])
        order_id, _ = await acted(api, settle)
        settle()
        receiver.wait_for(1)
    [dead] = (await api.get_json(f"/orders/{order_id}/deliveries"))["items"]
    assert (dead["status"], dead["attemptCount"]) == ("dead", 1)


async def test_order_changes_are_delivered_one_per_command_with_a_per_order_sequence(api, receiver, settle):
    await subscribe(api, receiver.url, events=["order.created", "order.updated", "order.status_changed", "order.deleted"])
    order_id = unique("order")
    await api.accepted("POST", "/orders", an_order(order_id))
    settle()
    two_lines_and_header = an_order(order_id, currency="SEK", items=[
        {"sku": "SKU-9", "quantity": 1, "grossPaidPrice": 250, "taxPercent": 25, "taxAmount": 50}])
    await api.accepted("PUT", f"/orders/{order_id}", two_lines_and_header)  # a line changed, one removed: one update
    settle()
    await api.accepted("POST", f"/orders/{order_id}/change-status", {"status": "Shipped"})
    settle()
    await api.accepted("DELETE", f"/orders/{order_id}")
    settle()

    got = receiver.wait_for(4)
    payloads = sorted((r.json() for r in got), key=lambda p: p["sequence"])
    assert [(p["event"], p["sequence"]) for p in payloads] == [
        ("order.created", 1), ("order.updated", 2), ("order.status_changed", 3), ("order.deleted", 4)]
    assert payloads[1]["version"] == 3 and payloads[1]["order"]["items"][0]["sku"] == "SKU-9"
    assert payloads[2]["order"]["status"] == "Shipped" and payloads[3]["order"] is None
    assert len(receiver.requests) == 4


async def test_a_delivery_whose_job_was_lost_is_sent_by_the_sweep(api, receiver, settings, redis, settle):
    await subscribe(api, receiver.url, actions=["ConfirmOrder"])
    order_id, job = await acted(api, settle)
    webhook_queue(redis, settings.queue_name).empty()  # what a Redis restart without persistence does

    sweep = DeliverySweep(settings.database_url, redis, settings.queue_name, grace=0)
    try:
        report = sweep.sweep()
    finally:
        sweep.close()
    assert report.swept and report.enqueued >= 1
    settle()
    receiver.wait_for(1)
    assert (await api.job(job))["status"] == "Completed"


async def test_the_sweep_writes_the_deliveries_of_a_request_that_missed_its_version_s_processing(api, receiver, settings, redis, settle):
    await subscribe(api, receiver.url, actions=["ConfirmOrder"])
    order_id = unique("order")
    await processed_tag(api, settle, (await api.accepted("POST", "/orders", an_order(order_id)))["jobId"])
    with psycopg.connect(settings.database_url) as conn:  # written while its version was being processed
        conn.execute(
            "INSERT INTO action_request (action_request_id, tenant_id, aggregate_id, order_id, version, action, source) "
            "SELECT %s, tenant_id, aggregate_id, order_id, 1, 'ConfirmOrder', 'embedded' FROM order_view WHERE order_id = %s",
            (uuid4(), order_id))

    sweep = DeliverySweep(settings.database_url, redis, settings.queue_name, grace=0)
    try:
        assert sweep.sweep().materialized == 1
    finally:
        sweep.close()
    settle()
    assert receiver.wait_for(1)[0].json()["action"] == "ConfirmOrder"


async def test_subscription_urls_must_be_https_to_public_addresses_by_default(settings, api_key):
    strict = replace(settings, webhook_allow_private=False)
    async with AsyncTestClient(app=create_app(strict)) as client:
        api = Api(client, api_key)
        for url in ("http://hooks.example.com/in", "https://127.0.0.1/in", "https://10.0.0.1/in", "https://localhost/in",
                    "https://[::1]/in", "https://169.254.169.254/latest"):
            answer = await api.send("POST", "/admin/webhooks", {"url": url, "actions": ["ConfirmOrder"]})
            assert (answer.status_code, answer.json()["code"]) == (422, "webhook_url_refused"), url
            assert answer.json()["errors"][0]["pointer"] == "/url"
        nothing = await api.send("POST", "/admin/webhooks", {"url": "https://example.com/in"})
        assert (nothing.status_code, nothing.json()["code"]) == (422, "subscription_invalid")
        bad_event = await api.send("POST", "/admin/webhooks", {"url": "https://example.com/in", "events": ["order.eaten"]})
        assert bad_event.status_code == 400


async def test_subscriptions_are_listed_without_secrets_removed_and_scoped_to_the_tenant(api, receiver, settings, client, settle):
    made = await subscribe(api, receiver.url, actions=["ConfirmOrder"], events=["order.created"])
    assert made["secret"].startswith("whsec_")
    listed = (await api.get_json("/admin/webhooks"))["items"]
    assert [(s["subscriptionId"], s["secret"]) for s in listed] == [(made["subscriptionId"], None)]
    stranger = Api(client, make_key(settings))
    assert (await stranger.send("DELETE", f"/admin/webhooks/{made['subscriptionId']}")).status_code == 404
    assert (await stranger.get_json("/admin/webhooks"))["items"] == []

    order_id, _ = await acted(api, settle)
    assert (await stranger.send("GET", f"/orders/{order_id}/deliveries")).status_code == 404
    assert (await api.send("DELETE", f"/admin/webhooks/{made['subscriptionId']}")).status_code == 204
    assert (await api.get_json("/admin/webhooks"))["items"] == []
    settle()
    [delivery] = [d for d in (await api.get_json(f"/orders/{order_id}/deliveries"))["items"] if d["event"] == "action"]
    assert (delivery["status"], delivery["lastError"]) == ("dead", "the subscription was removed")
    assert [r.json()["event"] for r in receiver.requests] == ["order.created"]


def test_the_cli_adds_lists_removes_webhooks_and_redelivers_dead_deliveries(settings, receiver):
    tenant = unique("tenant")
    make_key(settings, tenant)
    env = {"ORDERLEDGER_DATABASE_URL": settings.database_url, "ORDERLEDGER_REDIS_URL": settings.redis_url,
           "ORDERLEDGER_QUEUE": settings.queue_name, "ORDERLEDGER_WEBHOOK_ALLOW_PRIVATE": "1"}

    def run(*args: str, code: int = 0) -> str:
        result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
        assert result.exit_code == code, result.output
        return result.output

    added = run("webhooks", "add", "--tenant", tenant, "--url", receiver.url, "--action", "ConfirmOrder")
    assert "secret whsec_" in added
    subscription_id = added.split()[1]
    assert receiver.url in run("webhooks", "list", "--tenant", tenant)
    with psycopg.connect(settings.database_url) as conn:  # a dead delivery, as after its last try
        conn.execute(
            "INSERT INTO webhook_delivery (delivery_id, tenant_id, subscription_id, aggregate_id, order_id, version, kind,"
            " sequence, occurred_at, status, attempts, round_attempts, dead_at) SELECT %s, tenant_id, subscription_id, %s, 'x', 1,"
            " 'order.created', 1, now(), 'dead', 6, 6, now() FROM webhook_subscription WHERE subscription_id = %s",
            (dead := uuid4(), uuid4(), subscription_id))
    assert str(dead) in run("deliveries", "dead", "--tenant", tenant)
    assert "redelivering" in run("deliveries", "redeliver", str(dead))
    assert "not dead" in run("deliveries", "redeliver", str(dead), code=1)
    run("webhooks", "remove", subscription_id, "--tenant", tenant)
    assert "no webhooks" in run("webhooks", "list", "--tenant", tenant)
