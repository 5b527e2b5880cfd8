"""Actions run only against a processed, tagged version, with that version's data, once per tag."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from orderledger.domain.actions import action_job_id
from tests.conftest import make_key, unique
from tests.integration.automation import (  # noqa: F401  (fixtures)
    api, processed_tag, receiver, settings, settle, subscribe, verify_as_a_receiver,
)
from tests.integration.helpers import Api, an_order

pytestmark = pytest.mark.integration


async def created(api: Api, settle, **fields) -> tuple[str, str]:
    """A processed order: (orderId, versionTag of version 1)."""
    order_id = unique("order")
    job = (await api.accepted("POST", "/orders", an_order(order_id, **fields)))["jobId"]
    return order_id, await processed_tag(api, settle, job)


async def test_an_action_is_delivered_signed_with_the_tagged_order_and_its_data(api, receiver, settle):
    subscription = await subscribe(api, receiver.url, actions=["ConfirmOrder"])
    order_id, tag = await created(api, settle)

    answer = await api.send("POST", f"/orders/{order_id}/action",
                            {"action": "ConfirmOrder", "versionTag": tag, "language": "sv-SE", "data": {"voucher": Decimal("12.50")}})
    assert answer.status_code == 202, answer.text
    job = answer.json()["jobId"]
    assert job.startswith("act_") and answer.headers["location"] == f"/api/v3/orders/jobs/{job}"
    assert (await api.job(job))["status"] == "Queued"
    settle()

    [got] = receiver.wait_for(1)
    assert verify_as_a_receiver(subscription["secret"], got.headers, got.body)
    payload = got.json()
    assert (payload["event"], payload["action"], payload["language"]) == ("action", "ConfirmOrder", "sv-SE")
    assert payload["data"] == {"voucher": Decimal("12.50")}  # exact, as sent
    assert (payload["orderId"], payload["version"], payload["versionTag"], payload["sequence"]) == (order_id, 1, tag, 1)
    assert payload["order"]["items"][0]["grossPaidPrice"] == Decimal("200.00")
    assert got.headers["x-orderledger-delivery"] == payload["deliveryId"] and got.headers["x-orderledger-sequence"] == "1"
    done = await api.job(job)
    assert (done["status"], done["versionTag"], done["action"]) == ("Completed", tag, "ConfirmOrder")


async def test_a_stale_tag_is_refused_naming_the_current_tag_unless_allow_stale(api, receiver, settle):
    await subscribe(api, receiver.url, actions=["ConfirmOrder"])
    order_id, old_tag = await created(api, settle)
    new_job = (await api.accepted("PATCH", f"/orders/{order_id}", {"status": "Paid"}))["jobId"]
    new_tag = await processed_tag(api, settle, new_job)

    stale = await api.send("POST", f"/orders/{order_id}/action", {"action": "ConfirmOrder", "versionTag": old_tag})
    assert stale.status_code == 409
    assert (stale.json()["code"], stale.json()["currentVersionTag"], stale.json()["currentVersion"]) == ("version_tag_stale", new_tag, 2)

    allowed = await api.send("POST", f"/orders/{order_id}/action",
                             {"action": "ConfirmOrder", "versionTag": old_tag, "allowStale": True})
    assert allowed.status_code == 202 and allowed.json()["version"] == 1


async def test_the_same_action_on_the_same_tag_triggers_once_and_answers_the_first_job(api, receiver, settle):
    await subscribe(api, receiver.url, actions=["ConfirmShipment"])
    order_id, tag = await created(api, settle)
    body = {"action": "ConfirmShipment", "versionTag": tag}

    first = await api.send("POST", f"/orders/{order_id}/action", body)
    settle()
    again = await api.send("POST", f"/orders/{order_id}/action", {**body, "data": {"other": "data"}})
    settle()

    assert first.status_code == again.status_code == 202
    assert again.json()["jobId"] == first.json()["jobId"] and again.headers["idempotent-replayed"] == "true"
    receiver.wait_for(1)
    assert len(receiver.requests) == 1


async def test_an_order_changed_after_the_tag_is_delivered_with_the_tagged_data(api, receiver, settle):
    await subscribe(api, receiver.url, actions=["ReturnConfirmation"])
    order_id, tag = await created(api, settle)

    await api.accepted("POST", f"/orders/{order_id}/action", {"action": "ReturnConfirmation", "versionTag": tag})
    # Changed before the delivery runs: the order queue goes first, so version 2 is processed before it.
    await api.accepted("PATCH", f"/orders/{order_id}", {"status": "Returned", "currency": "EUR"})
    settle()

    assert (await api.get_json(f"/orders/{order_id}"))["currency"] == "EUR"
    [got] = receiver.wait_for(1)
    order = got.json()["order"]
    assert (order["version"], order["status"], order["currency"]) == (1, "New", "SEK")


async def test_forged_foreign_and_unprocessed_tags_and_missing_orders_are_refused(api, settings, settle, client):
    order_id, tag = await created(api, settle)
    other_order, other_tag = await created(api, settle)
    stranger = Api(client, make_key(settings))
    _, strangers_tag = await created(stranger, settle)

    async def code(path: str, body: dict) -> tuple[int, str]:
        answer = await api.send("POST", path, body)
        return answer.status_code, answer.json()["code"]

    middle = len(tag) // 2  # not the last character: its low bits are base64 padding, ignored when decoding
    forged = tag[:middle] + ("A" if tag[middle] != "A" else "B") + tag[middle + 1:]
    action = f"/orders/{order_id}/action"
    assert await code(action, {"action": "ConfirmOrder", "versionTag": forged}) == (422, "version_tag_invalid")
    assert await code(action, {"action": "ConfirmOrder", "versionTag": other_tag}) == (422, "version_tag_invalid")
    assert await code(action, {"action": "ConfirmOrder", "versionTag": strangers_tag}) == (422, "version_tag_invalid")
    assert await code(f"/orders/{unique('nope')}/action", {"action": "ConfirmOrder", "versionTag": tag}) == (404, "order_not_found")
    assert await code(action, {"action": "ConfirmOrder"}) == (400, "malformed_request")
    assert await code(action, {"action": "", "versionTag": tag}) == (400, "malformed_request")
    # The stranger cannot act on our order with our tag either: to the stranger, it does not exist.
    assert (await stranger.send("POST", action, {"action": "ConfirmOrder", "versionTag": tag})).status_code == 404


async def test_an_order_without_a_contact_cannot_be_acted_on(api, settle):
    order_id, tag = await created(api, settle, contact=None)
    answer = await api.send("POST", f"/orders/{order_id}/action", {"action": "ConfirmOrder", "versionTag": tag})
    assert answer.status_code == 422 and answer.json()["code"] == "order_has_no_contact"

    embedded = an_order(unique("order"), contact=None, action={"action": "ConfirmOrder"})
    refused = await api.send("POST", "/orders", embedded)
    assert refused.status_code == 422 and refused.json()["code"] == "order_has_no_contact"


async def test_an_action_embedded_in_a_create_or_replace_runs_on_the_version_it_produced(api, receiver, settle):
    await subscribe(api, receiver.url, actions=["*"])
    order_id = unique("order")
    await api.accepted("POST", "/orders", an_order(order_id, action={"action": "ConfirmOrder", "data": {"n": Decimal("1.5")}}))
    settle()
    replaced = an_order(order_id, status="Shipped", items=[], totalGrossPrice=Decimal("0"), totalTax=Decimal("0"),
                        paymentMethods=[], action={"action": "ConfirmShipment", "language": "en"})
    job = (await api.accepted("PUT", f"/orders/{order_id}", replaced))["jobId"]
    settle()

    confirm, shipment = receiver.wait_for(2)
    assert (confirm.json()["action"], confirm.json()["version"], confirm.json()["data"]) == ("ConfirmOrder", 1, {"n": Decimal("1.5")})
    version = int(job.rsplit("_", 1)[1])
    assert (shipment.json()["action"], shipment.json()["version"], shipment.json()["order"]["status"]) == ("ConfirmShipment", version, "Shipped")
    assert shipment.json()["order"]["items"] == [] and "action" not in shipment.json()["order"]

    # The same replace again changes nothing: its action runs on the version that holds the data, once.
    again = {**replaced, "action": {"action": "ShipmentReminder"}}
    assert (await api.accepted("PUT", f"/orders/{order_id}", again))["jobId"] == job
    settle()
    reminder = receiver.wait_for(3)[2].json()
    assert (reminder["action"], reminder["version"]) == ("ShipmentReminder", version)


async def test_administration_endpoints_trigger_no_communication_by_themselves(api, receiver, settle):
    await subscribe(api, receiver.url, actions=["*"])
    order_id = unique("order")
    await api.accepted("POST", "/orders", an_order(order_id))
    await api.accepted("PATCH", f"/orders/{order_id}", {"status": "Paid"})
    await api.accepted("POST", f"/orders/{order_id}/change-status", {"status": "Shipped"})
    await api.accepted("POST", f"/orders/{order_id}/change-delivery", {"method": "DHL"})
    await api.accepted("DELETE", f"/orders/{order_id}")
    settle()
    assert receiver.requests == []


async def test_an_action_nobody_subscribes_to_completes_with_a_warning(api, settle):
    order_id, tag = await created(api, settle)
    job = (await api.accepted("POST", f"/orders/{order_id}/action", {"action": "Unheard", "versionTag": tag}))["jobId"]
    status = await api.job(job)
    assert status["status"] == "CompletedWithErrors" and status["warnings"][0]["code"] == "no_subscription"
    assert (await api.send("GET", f"/orders/jobs/{action_job_id(uuid.uuid4())}")).status_code == 404


async def test_an_action_on_a_replace_that_changed_nothing_waits_for_its_version_to_be_processed(api, receiver, settle):
    await subscribe(api, receiver.url, actions=["*"])
    order_id = unique("order")
    job = (await api.accepted("POST", "/orders", an_order(order_id)))["jobId"]
    # The same data again before version 1 is processed, now with an action: no new version, the action waits.
    again = await api.accepted("PUT", f"/orders/{order_id}", an_order(order_id, action={"action": "ConfirmOrder"}))
    assert again["jobId"] == job and receiver.requests == []
    settle()
    [got] = receiver.wait_for(1)
    assert (got.json()["action"], got.json()["version"]) == ("ConfirmOrder", 1)
