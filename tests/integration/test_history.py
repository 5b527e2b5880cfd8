"""History for analysts over HTTP: an order's events, time travel, diffs, the tenant feed."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from orderledger.domain.ids import order_aggregate_id
from orderledger.jsoncodec import loads_exact
from tests.conftest import make_key, unique
from tests.integration.helpers import Api, an_order
from tests.integration.history_helpers import tenant_of

pytestmark = pytest.mark.integration


@pytest.fixture
def api(client, api_key) -> Api:
    return Api(client, api_key)


def a_line(sku: str, quantity: int, price: str) -> dict:
    gross = Decimal(price)
    return {"sku": sku, "quantity": quantity, "grossPaidPrice": gross, "taxPercent": 25, "taxAmount": gross / 5}


def a_document(order_id: str, rng: random.Random) -> dict:
    """A valid order with random lines, status and customer."""
    lines = [a_line(f"SKU-{rng.randint(1, 9)}", rng.randint(1, 3), f"{rng.randint(1, 40) * 5}.00")
             for _ in range(rng.randint(0, 4))]
    total = sum((line["grossPaidPrice"] for line in lines), Decimal("0.00"))
    return an_order(order_id, items=lines, totalGrossPrice=total, totalTax=total / 5,
                    paymentMethods=[{"type": "card", "value": total}], status=rng.choice(["New", "Paid", "Shipped"]),
                    customer={"firstName": rng.choice(["Anna", "Bo", "Cecilia"]), "lastName": "Berg"})


async def test_an_orders_events_come_in_version_order_with_what_caused_them(api, drain):
    order_id = unique("order")
    await api.accepted("POST", "/orders", an_order(order_id), **{"x-request-id": "req-create"})
    await api.accepted("POST", f"/orders/{order_id}/change-status", {"status": "Paid"})
    await api.accepted("DELETE", f"/orders/{order_id}")

    history = await api.get_json(f"/orders/{order_id}/events")

    assert [(e["version"], e["type"]) for e in history["events"]] == [(1, "Registered"), (2, "StatusChanged"), (3, "Deleted")]
    registered = history["events"][0]
    assert registered["metadata"]["command"] == "RegisterOrder" and registered["metadata"]["requestId"] == "req-create"
    assert registered["metadata"]["apiKey"] == api.key[:8]
    assert registered["payload"]["document"]["items"][0]["grossPaidPrice"] == Decimal("200.00")
    assert registered["payload"]["receivedVia"] == "api"
    assert history["events"][1]["payload"] == {"changes": {"status": "Paid"}}
    assert history["events"][0]["time"] <= history["events"][2]["time"]


async def test_an_unknown_order_has_no_history(api):
    answer = await api.send("GET", f"/orders/{unique('order')}/events")
    assert answer.status_code == 404 and answer.json()["code"] == "order_not_found"


async def test_time_travel_at_every_version_equals_the_fold_of_the_first_n_events(api, drain, settings, worker_context):
    rng = random.Random(6)
    order_id = unique("order")
    await api.accepted("POST", "/orders", a_document(order_id, rng))
    commands = []  # (the version a replace left, the document it sent)
    for _ in range(8):
        body = a_document(order_id, rng)
        commands.append(((await api.accepted("PUT", f"/orders/{order_id}", body))["version"], body))
    drain()
    aggregate_id = order_aggregate_id(str(tenant_of(settings, api.key)), order_id)
    repository = worker_context.ledger.repository
    latest = repository.get(aggregate_id).version
    assert latest > 10  # each replace records header and line events

    for version in range(1, latest + 1):
        past = await api.get_json(f"/orders/{order_id}?version={version}")
        assert past["version"] == version and past["latestVersion"] == latest
        # The library's repository folds the first N events on its own path.
        assert {k: v for k, v in past.items() if k not in _ENVELOPE} == repository.get(aggregate_id, version=version).document
        assert past["versionTag"]  # every version was processed, so each has its tag
    for version, body in commands:
        past = await api.get_json(f"/orders/{order_id}?version={version}")
        assert past["items"] == body["items"] and past["status"] == body["status"]


_ENVELOPE = {"orderId", "version", "versionTag", "createdAt", "updatedAt", "latestVersion"}


async def test_as_of_answers_the_last_version_recorded_by_then(api, drain):
    order_id = unique("order")
    await api.accepted("POST", "/orders", an_order(order_id, status="New"))
    await api.accepted("POST", f"/orders/{order_id}/change-status", {"status": "Paid"})
    events = (await api.get_json(f"/orders/{order_id}/events"))["events"]
    first, second = events[0]["time"], events[1]["time"]

    at_first = await api.get_json(f"/orders/{order_id}?asOf={first.replace('+', '%2B')}")
    at_second = await api.get_json(f"/orders/{order_id}?asOf={second.replace('+', '%2B')}")
    before = await api.send("GET", f"/orders/{order_id}?asOf=2000-01-01T00:00:00Z")

    assert at_first["version"] == 1 and at_first["status"] == "New"
    assert at_second["version"] == 2 and at_second["status"] == "Paid"
    assert at_first["versionTag"] is None  # nothing was processed: no tag was issued
    assert before.status_code == 404 and before.json()["code"] == "order_not_found"


async def test_time_travel_refuses_versions_that_do_not_exist_and_bad_parameters(api, drain):
    order_id = unique("order")
    await api.accepted("POST", "/orders", an_order(order_id))
    beyond = await api.send("GET", f"/orders/{order_id}?version=9")
    zero = await api.send("GET", f"/orders/{order_id}?version=0")
    both = await api.send("GET", f"/orders/{order_id}?version=1&asOf=2030-01-01T00:00:00Z")
    assert beyond.status_code == 404 and beyond.json()["code"] == "version_not_found" and beyond.json()["currentVersion"] == 1
    assert zero.status_code == 400 and zero.json()["code"] == "malformed_request"
    assert both.status_code == 400


async def test_a_deleted_order_is_readable_at_its_earlier_versions(api, drain):
    order_id = unique("order")
    await api.accepted("POST", "/orders", an_order(order_id))
    await api.accepted("DELETE", f"/orders/{order_id}")
    assert (await api.get_json(f"/orders/{order_id}?version=1"))["currency"] == "SEK"
    deleted = await api.send("GET", f"/orders/{order_id}?version=2")
    assert deleted.status_code == 404 and deleted.json()["deletedAtVersion"] == 2


async def test_the_diff_names_each_header_field_and_each_line_that_changed(api, drain):
    order_id = unique("order")
    await api.accepted("POST", "/orders", an_order(order_id, status="New", customer={"firstName": "Anna"}))
    changed = an_order(order_id, status="Paid", customer={"firstName": "Annie"})
    changed["items"] = [a_line("SKU-1", 2, "200.00"), a_line("SKU-9", 1, "50.00"), a_line("SKU-3", 1, "0.00")]
    await api.accepted("PUT", f"/orders/{order_id}", changed)
    latest = (await api.get_json(f"/orders/{order_id}/events"))["version"]

    diff = await api.get_json(f"/orders/{order_id}/diff?from=1&to={latest}")

    assert {"pointer": "/status", "before": "New", "after": "Paid"} in diff["header"]
    assert {"pointer": "/customer/firstName", "before": "Anna", "after": "Annie"} in diff["header"]
    assert [(line["index"], line["change"]) for line in diff["items"]] == [(1, "changed"), (2, "added")]
    assert diff["items"][0]["fields"] == [{"pointer": "/sku", "before": "SKU-2", "after": "SKU-9"}]
    assert diff["items"][1]["after"]["sku"] == "SKU-3"
    missing = await api.send("GET", f"/orders/{order_id}/diff?from=1&to=99")
    assert missing.status_code == 404 and missing.json()["code"] == "version_not_found"


async def test_the_feed_pages_a_tenants_events_in_commit_order_by_cursor(api, client, settings):
    other = Api(client, make_key(settings))
    ours = [unique("order") for _ in range(3)]
    for order_id in ours:
        await api.accepted("POST", "/orders", an_order(order_id))
        await other.accepted("POST", "/orders", an_order(unique("theirs")))
    await api.accepted("POST", f"/orders/{ours[0]}/change-status", {"status": "Paid"})

    seen, path = [], "/events?limit=2"
    for _ in range(10):
        page = await api.get_json(path)
        seen += page["items"]
        if not page["items"]:
            break
        path = page["links"]["next"].removeprefix("/api/v3")

    assert [(e["orderId"], e["type"]) for e in seen] == [(o, "Registered") for o in ours] + [(ours[0], "StatusChanged")]
    assert page["cursor"] == seen[-1]["cursor"]  # an empty page keeps the reader where it is
    bad = await api.send("GET", "/events?after=bm90LWEtY3Vyc29y")
    assert bad.status_code == 400 and bad.json()["code"] == "malformed_request"


async def test_the_feed_streams_ndjson_from_a_cursor(api):
    for _ in range(3):
        await api.accepted("POST", "/orders", an_order(unique("order")))
    first = (await api.get_json("/events?limit=1"))["items"][0]

    streamed = await api.send("GET", f"/events?after={first['cursor']}", accept="application/x-ndjson")
    by_param = await api.send("GET", f"/events?after={first['cursor']}&format=ndjson&limit=1")

    assert streamed.status_code == 200 and streamed.headers["content-type"].startswith("application/x-ndjson")
    lines = [loads_exact(line) for line in streamed.content.splitlines()]
    assert len(lines) == 2 and all(line["type"] == "Registered" for line in lines)
    assert lines[0]["cursor"] != first["cursor"]
    assert len(by_param.content.splitlines()) == 1


async def test_as_of_without_an_offset_is_utc(api):
    order_id = unique("order")
    await api.accepted("POST", "/orders", an_order(order_id))
    first = (await api.get_json(f"/orders/{order_id}/events"))["events"][0]["time"]
    later = (datetime.fromisoformat(first) + timedelta(hours=1)).replace(tzinfo=None).isoformat()
    assert (await api.get_json(f"/orders/{order_id}?asOf={later}"))["version"] == 1
