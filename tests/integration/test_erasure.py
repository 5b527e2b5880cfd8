"""Erasing a contact: its personal data reads "[erased]" everywhere, its orders' facts stay."""

from __future__ import annotations

import io
import uuid
from decimal import Decimal

import psycopg
import pytest

from orderledger.history.export import ExportRequest, export
from tests.conftest import unique
from tests.integration.helpers import Api, an_order
from tests.integration.history_helpers import tenant_of

pytestmark = pytest.mark.integration

ERASED = "[erased]"


@pytest.fixture
def api(client, api_key) -> Api:
    return Api(client, api_key)


def a_person() -> dict:
    tag = uuid.uuid4().hex[:8]
    return {"email": f"anna.{tag}@example.com", "first": f"Anna{tag}", "last": f"Lind{tag}", "street": f"Ekvägen {tag}"}


def an_order_of(person: dict, order_id: str, **fields) -> dict:
    return an_order(
        order_id, contact={"matchKey": person["email"], "matchKeyType": "Email"},
        customer={"firstName": person["first"], "lastName": person["last"], "email": person["email"], "phone": "+4670123"},
        shippingAddress={"street": person["street"], "city": "Lund", "country": "SE"},
        specialInstructions=f"ring {person['first']}", **fields)


async def erase(api: Api, contact: str) -> dict:
    answer = await api.send("POST", "/admin/erasures", {"contact": contact})
    assert answer.status_code == 200, answer.text
    return answer.json()


async def test_an_erased_contacts_orders_read_erased_and_keep_their_facts(api, drain):
    anna, bo = a_person(), a_person()
    annas, bos = unique("order"), unique("order")
    await api.accepted("POST", "/orders", an_order_of(anna, annas))
    await api.accepted("PATCH", f"/orders/{annas}", {"customer": {"phone": "+4670999"}})  # a change without the contact
    await api.accepted("POST", "/orders", an_order_of(bo, bos))
    drain()

    assert await erase(api, anna["email"]) == {"keysDestroyed": 1, "ordersRewritten": 1}

    order = await api.get_json(f"/orders/{annas}")
    assert order["contact"] == {"matchKey": ERASED, "matchKeyType": "Email"}
    assert order["customer"] == {"firstName": ERASED, "lastName": ERASED, "email": ERASED, "phone": ERASED}
    assert order["shippingAddress"] == {"street": ERASED, "city": ERASED, "country": "SE"}
    assert order["specialInstructions"] == ERASED
    assert order["totalGrossPrice"] == Decimal("250.00") and [i["sku"] for i in order["items"]] == ["SKU-1", "SKU-2"]
    first = await api.get_json(f"/orders/{annas}?version=1")
    assert first["customer"]["firstName"] == ERASED and first["status"] == "New"
    events = (await api.get_json(f"/orders/{annas}/events"))["events"]
    assert events[1]["payload"]["changes"]["customer"]["phone"] == ERASED
    assert (await api.get_json(f"/orders/{bos}"))["customer"]["firstName"] == bo["first"]
    assert (await api.get_json(f"/orders?contactId={anna['email']}"))["totalCount"] == 0


async def test_an_erased_contact_appears_nowhere_in_a_full_export(api, drain, settings, worker_context):
    anna, bo = a_person(), a_person()
    for _ in range(2):
        await api.accepted("POST", "/orders", an_order_of(anna, unique("order")))
    await api.accepted("POST", "/orders", an_order_of(bo, unique("order")))
    drain()
    await erase(api, anna["email"])
    tenant_id = tenant_of(settings, api.key)

    exported = b""
    for what in ("events", "orders"):
        for fmt in ("ndjson", "csv"):
            out = io.BytesIO()
            export(settings.database_url, worker_context.ledger, ExportRequest(tenant_id, what, fmt), out)
            exported += out.getvalue()

    for personal in (anna["email"], anna["first"], anna["last"], anna["street"]):
        assert personal.encode() not in exported
    assert bo["first"].encode() in exported and bo["email"].encode() in exported
    assert b"250.00" in exported and b"SKU-2" in exported and ERASED.encode() in exported
    with psycopg.connect(settings.database_url) as conn:  # nor in the database, in any table
        dump = conn.execute("SELECT string_agg(v::text, '') FROM order_view v WHERE tenant_id = %s",
                            (tenant_id,)).fetchone()[0]
        events = conn.execute("SELECT string_agg(convert_from(state, 'UTF8'), '') FROM orderledger_events "
                              "WHERE orderledger_event_tenant(state) = %s", (str(tenant_id),)).fetchone()[0]
    assert anna["first"] not in dump and anna["email"] not in dump
    assert anna["first"] not in events and anna["email"] not in events  # sealed in the store from the start


async def test_an_erased_order_still_takes_commands(api, drain):
    anna = a_person()
    order_id = unique("order")
    await api.accepted("POST", "/orders", an_order_of(anna, order_id))
    drain()
    await erase(api, anna["email"])
    job = await api.accepted("PATCH", f"/orders/{order_id}", {"status": "Paid"})
    drain()
    assert (await api.job(job["jobId"]))["status"] == "Completed"
    order = await api.get_json(f"/orders/{order_id}")
    assert order["status"] == "Paid" and order["customer"]["firstName"] == ERASED


async def test_erasing_twice_or_an_unknown_contact_erases_nothing_more(api, drain):
    anna = a_person()
    await api.accepted("POST", "/orders", an_order_of(anna, unique("order")))
    drain()
    assert (await erase(api, anna["email"]))["keysDestroyed"] == 1
    assert await erase(api, anna["email"]) == {"keysDestroyed": 0, "ordersRewritten": 0}
    assert await erase(api, "nobody@example.com") == {"keysDestroyed": 0, "ordersRewritten": 0}
    bad = await api.send("POST", "/admin/erasures", {"matchKey": "x"})
    assert bad.status_code == 400 and bad.json()["code"] == "malformed_request"


async def test_a_contact_that_comes_back_after_erasure_gets_a_new_key(api, drain):
    anna = a_person()
    await api.accepted("POST", "/orders", an_order_of(anna, unique("order")))
    drain()
    await erase(api, anna["email"])
    again = unique("order")
    await api.accepted("POST", "/orders", an_order_of(anna, again))
    drain()
    assert (await api.get_json(f"/orders/{again}"))["customer"]["firstName"] == anna["first"]
