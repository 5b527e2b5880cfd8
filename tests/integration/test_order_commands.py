"""Every order command over HTTP, against real PostgreSQL, Redis and an RQ SimpleWorker."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from tests.conftest import unique
from tests.integration.helpers import Api, an_order

pytestmark = pytest.mark.integration


@pytest.fixture
def api(client, api_key) -> Api:
    return Api(client, api_key)


async def created(api: Api, drain, **fields) -> str:
    order_id = unique("order")
    await api.accepted("POST", "/orders", an_order(order_id, **fields))
    drain()
    return order_id


async def test_replace_makes_a_new_version_with_the_new_data(api, drain):
    order_id = await created(api, drain)
    replaced = an_order(order_id, status="Shipped")
    replaced["items"] = replaced["items"][:1] + [
        {"sku": "SKU-3", "quantity": 1, "grossPaidPrice": Decimal("50.00"), "taxPercent": 25, "taxAmount": Decimal("10.00")}]
    job = await api.accepted("PUT", f"/orders/{order_id}", replaced)
    drain()
    assert (await api.job(job["jobId"]))["status"] == "Completed"
    order = await api.get_json(f"/orders/{order_id}")
    assert order["status"] == "Shipped" and [i["sku"] for i in order["items"]] == ["SKU-1", "SKU-3"]
    assert order["version"] == job["version"] == 3  # header change + one line changed


async def test_the_same_replace_twice_answers_the_same_job_and_appends_nothing(api, drain):
    order_id = await created(api, drain)
    body = an_order(order_id, status="Paid")
    first = await api.accepted("PUT", f"/orders/{order_id}", body)
    second = await api.accepted("POST", f"/orders/{order_id}", body)  # the POST alias
    assert second["jobId"] == first["jobId"] and second["version"] == first["version"]
    drain()
    assert (await api.get_json(f"/orders/{order_id}"))["version"] == first["version"]


async def test_patch_changes_only_the_named_fields(api, drain):
    order_id = await created(api, drain, state="confirmed", erp_order_number="ERP-1")
    await api.accepted("PATCH", f"/orders/{order_id}", {"state": "processing"})
    await api.accepted("PATCH", f"/orders/{order_id}", {"erp_order_number": "ERP-124578", "shipment_state": "sent"})
    await api.accepted("PATCH", f"/orders/{order_id}", {"externalStatus": None, "delivery": {"method": "Post"}})
    drain()
    order = await api.get_json(f"/orders/{order_id}")
    assert order["state"] == "processing" and order["erp_order_number"] == "ERP-124578"
    assert order["shipment_state"] == "sent" and order["delivery"] == {"method": "Post"}
    assert order["items"][0]["grossPaidPrice"] == Decimal("200.00")


async def test_a_patch_that_breaks_the_schema_is_a_400_with_a_pointer(api, drain):
    order_id = await created(api, drain)
    answer = await api.send("PATCH", f"/orders/{order_id}", {"items": [{"quantity": "many"}]})
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["pointer"] == "/items/0/quantity"


async def test_status_changes_follow_the_tenants_transitions(api, drain):
    order_id = await created(api, drain, state="draft")
    refused = await api.send("POST", f"/orders/{order_id}/change-status", {"state": "done"})
    assert refused.status_code == 422
    assert [(e["code"], e["pointer"]) for e in refused.json()["errors"]] == [("state_transition_not_allowed", "/state")]
    job = await api.accepted("POST", f"/orders/{order_id}/change-status", {"state": "quotation", "status": "Quoted"})
    drain()
    assert (await api.job(job["jobId"]))["status"] == "Completed"
    order = await api.get_json(f"/orders/{order_id}")
    assert (order["state"], order["status"]) == ("quotation", "Quoted")


async def test_change_delivery_sets_the_delivery(api, drain):
    order_id = await created(api, drain)
    delivery = {"method": "DHL", "trackingNumber": "JD0123", "trackingUri": "https://track.example/JD0123",
                "deliveryDate": "2026-12-01T10:00:00Z"}
    await api.accepted("POST", f"/orders/{order_id}/change-delivery", delivery)
    drain()
    assert (await api.get_json(f"/orders/{order_id}"))["delivery"]["trackingNumber"] == "JD0123"


async def test_a_deleted_order_disappears_from_reads_and_refuses_commands(api, drain):
    order_id = await created(api, drain)
    job = await api.accepted("DELETE", f"/orders/{order_id}")
    drain()
    assert (await api.job(job["jobId"]))["status"] == "Completed"
    assert (await api.send("GET", f"/orders/{order_id}")).status_code == 404
    again = await api.send("POST", f"/orders/{order_id}/change-status", {"status": "X"})
    assert again.status_code == 404 and again.json()["code"] == "order_not_found"


async def test_commands_on_unknown_orders_are_404(api):
    for method, path, body in [("PUT", "/orders/nope", an_order("nope")), ("PATCH", "/orders/nope", {"status": "x"}),
                               ("DELETE", "/orders/nope", None)]:
        answer = await api.send(method, path, body)
        assert answer.status_code == 404 and answer.json()["code"] == "order_not_found", (method, answer.text)


async def test_every_rule_violation_is_reported_at_once(api):
    order = an_order(unique("order"))
    order["items"][0]["taxAmount"] = Decimal("41.00")  # formula says 40.00
    order["items"][1]["discounts"] = [{"value": Decimal("5")}]  # discounts must be negative
    order["totalTax"] = Decimal("60.00")
    answer = await api.send("POST", "/orders", order)
    assert answer.status_code == 422 and answer.json()["code"] == "order_invalid"
    found = {(e["code"], e["pointer"]) for e in answer.json()["errors"]}
    assert ("line_tax_mismatch", "/items/0/taxAmount") in found
    assert ("discount_not_negative", "/items/1/discounts/0/value") in found
    assert ("total_tax_mismatch", "/totalTax") in found


async def test_company_id_cannot_change_after_create(api, drain):
    order_id = await created(api, drain, companyId="C-1")
    answer = await api.send("PATCH", f"/orders/{order_id}", {"companyId": "C-2"})
    assert answer.status_code == 422 and answer.json()["errors"][0]["code"] == "company_id_immutable"


async def test_a_stale_if_match_is_a_version_conflict_naming_the_current_version(api, drain):
    order_id = await created(api, drain)
    etag = (await api.send("GET", f"/orders/{order_id}")).headers["etag"]
    await api.accepted("PATCH", f"/orders/{order_id}", {"status": "A"}, **{"If-Match": etag})
    stale = await api.send("PATCH", f"/orders/{order_id}", {"status": "B"}, **{"If-Match": etag})
    assert stale.status_code == 409 and stale.json()["code"] == "version_conflict"
    assert stale.json()["currentVersion"] == 2


async def test_concurrent_commands_lose_no_update_and_leave_no_gap(api, drain, settings):
    order_id = await created(api, drain)
    answers = await asyncio.gather(
        *[api.send("PATCH", f"/orders/{order_id}", {"extraData": {f"k{i}": i}}) for i in range(12)])
    assert all(a.status_code == 202 for a in answers)
    drain()
    order = await api.get_json(f"/orders/{order_id}")
    assert order["version"] == 13
    assert order["extraData"] == {f"k{i}": i for i in range(12)}  # no update lost
    assert sorted(a.json()["version"] for a in answers) == list(range(2, 14))  # gapless, each its own version


async def test_an_idempotency_key_answers_the_same_job_and_refuses_a_different_body(api, drain):
    order = an_order(unique("order"))
    first = await api.send("POST", "/orders", order, **{"Idempotency-Key": "k-1"})
    again = await api.send("POST", "/orders", order, **{"Idempotency-Key": "k-1"})
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    assert again.headers["location"] == first.headers["location"]
    other = await api.send("POST", "/orders", an_order(unique("order")), **{"Idempotency-Key": "k-1"})
    assert other.status_code == 409 and other.json()["code"] == "idempotency_key_reused"


async def test_a_contacts_orders_come_newest_first_with_total_and_links(api, drain):
    contact = f"{unique('c')}@example.com"
    ids = []
    for _ in range(3):
        ids.append(await created(api, drain, contact={"matchKey": contact, "matchKeyType": "Email"}))
    page = await api.get_json(f"/orders?contactId={contact}&count=2")
    assert page["totalCount"] == 3 and [o["orderId"] for o in page["items"]] == ids[::-1][:2]
    assert page["links"]["next"].endswith("offset=2&count=2&contactId=" + contact.replace("@", "%40"))
    alias = await api.get_json(f"/contacts/{contact}/orders?offset=2&count=2")
    assert [o["orderId"] for o in alias["items"]] == ids[:1] and "previous" in alias["links"]


async def test_count_is_at_most_100(api):
    answer = await api.send("GET", "/orders?contactId=x&count=101")
    assert answer.status_code == 400 and answer.json()["code"] == "malformed_request"


async def test_filtered_lists_page_by_cursor_and_see_every_order_once_while_orders_change(api, drain):
    erp = unique("ERP")
    ids = [await created(api, drain, erp_order_number=erp if i % 2 == 0 else None, reference=erp) for i in range(5)]
    seen, path = [], f"/orders?reference={erp}&count=2"
    while path:
        page = await api.get_json(path)
        seen += [o["orderId"] for o in page["items"]]
        await api.accepted("PATCH", f"/orders/{ids[0]}", {"extraData": {"touched": len(seen)}})
        drain()
        path = page["links"].get("next", "").removeprefix("/api/v3")
    assert seen == ids[::-1]
    by_erp = await api.get_json(f"/orders?erpOrderNumber={erp}")
    assert sorted(o["orderId"] for o in by_erp["items"]) == sorted(ids[0::2])


async def test_a_tenants_configured_statuses_are_enforced(api, drain):
    config = await api.get_json("/admin/config")
    assert config["stateTransitions"]["draft"] == ["quotation", "cancel"] and config["statuses"] is None
    saved = await api.send("PUT", "/admin/config", {"statuses": ["New", "Paid"], "paymentStatuses": ["Open"]})
    assert saved.status_code == 200, saved.text
    answer = await api.send("POST", "/orders", an_order(unique("order"), status="Lost", paymentStatus="Open"))
    assert answer.status_code == 422
    assert [e["code"] for e in answer.json()["errors"]] == ["status_not_allowed"]
    bad = await api.send("PUT", "/admin/config", {"roundingTolerance": "abc"})
    assert bad.status_code == 400
