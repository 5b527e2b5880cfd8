"""An order command becomes a VersionTag, against real PostgreSQL, Redis and an RQ SimpleWorker."""

from __future__ import annotations

from decimal import Decimal

import psycopg
import pytest

from orderledger.domain.version_tag import TagKeyring
from orderledger.jsoncodec import loads_exact
from tests.conftest import make_key, unique

pytestmark = pytest.mark.integration


def an_order(order_id: str) -> dict:
    return {
        "orderId": order_id,
        "contact": {"matchKey": "anna@example.com", "matchKeyType": "Email"},
        "currency": "SEK",
        "status": "New",
        "items": [{"sku": "SKU-1", "quantity": 2, "grossPaidPrice": Decimal("199.90"), "taxPercent": 25}],
    }


def body(order: dict) -> bytes:
    from orderledger.jsoncodec import dumps

    return dumps(order)


async def create(client, key: str, order: dict):
    return await client.post("/api/v3/orders", content=body(order), headers={"apikey": key})


async def test_a_created_order_is_queued_then_completed_with_a_version_tag(client, api_key, drain, settings):
    order_id = unique("order")
    created = await create(client, api_key, an_order(order_id))
    assert created.status_code == 202
    job = created.json()["jobId"]
    assert created.headers["location"] == f"/api/v3/orders/jobs/{job}"

    queued = await client.get(f"/api/v3/orders/jobs/{job}", headers={"apikey": api_key})
    assert queued.json()["status"] == "Queued" and queued.headers["retry-after"]
    assert (await client.get(f"/api/v3/orders/{order_id}", headers={"apikey": api_key})).status_code == 404

    drain()

    done = (await client.get(f"/api/v3/orders/jobs/{job}", headers={"apikey": api_key})).json()
    assert done["status"] == "Completed" and done["version"] == 1 and done["orderId"] == order_id
    tagged = settings.keyring().verify(done["versionTag"])
    assert tagged.version == 1

    read = await client.get(f"/api/v3/orders/{order_id}", headers={"Authorization": f"Bearer {api_key}"})
    assert read.status_code == 200 and read.headers["etag"] == '"1"'
    view = loads_exact(read.content)
    assert view["versionTag"] == done["versionTag"] and view["version"] == 1
    assert view["items"][0]["grossPaidPrice"] == Decimal("199.90")  # exact, not 199.9 from a float


async def test_another_tenant_sees_neither_the_order_nor_its_job(client, api_key, settings, drain):
    order_id = unique("order")
    job = (await create(client, api_key, an_order(order_id))).json()["jobId"]
    other = make_key(settings)
    assert (await client.get(f"/api/v3/orders/jobs/{job}", headers={"apikey": other})).status_code == 404
    drain()
    assert (await client.get(f"/api/v3/orders/jobs/{job}", headers={"apikey": other})).status_code == 404
    missing = await client.get(f"/api/v3/orders/{order_id}", headers={"apikey": other})
    assert missing.status_code == 404 and missing.json()["code"] == "order_not_found"
    # The same orderId in the other tenant is a different order.
    assert (await create(client, other, an_order(order_id))).status_code == 202


async def test_an_order_without_a_contact_completes_with_warnings(client, api_key, drain):
    order = an_order(unique("order"))
    del order["contact"]
    job = (await create(client, api_key, order)).json()["jobId"]
    drain()
    status = (await client.get(f"/api/v3/orders/jobs/{job}", headers={"apikey": api_key})).json()
    assert status["status"] == "CompletedWithErrors"
    assert [w["code"] for w in status["warnings"]] == ["order_has_no_contact"]


async def test_creating_a_taken_order_id_is_a_conflict(client, api_key):
    order = an_order(unique("order"))
    assert (await create(client, api_key, order)).status_code == 202
    again = await create(client, api_key, order)
    assert again.status_code == 409 and again.json()["code"] == "order_exists"
    assert again.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("payload", "pointer"),
    [
        (b'{"orderId": "x", ', ""),
        (b'{"orderId": "x", "items": [{"quantity": "two"}]}', "/items/0/quantity"),
        (b'{"orderId": "x", "state": "flying"}', "/state"),
        (b'{"items": []}', "/orderId"),
        (b'[1, 2]', ""),
    ],
)
async def test_malformed_bodies_answer_400_problems_with_a_pointer(client, api_key, payload, pointer):
    answer = await client.post("/api/v3/orders", content=payload, headers={"apikey": api_key})
    assert answer.status_code == 400
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert problem["code"] == "malformed_request"
    assert problem["errors"][0]["pointer"] == pointer


@pytest.mark.parametrize("headers", [{}, {"apikey": "olk_not-a-key"}, {"Authorization": "Bearer nope"}])
async def test_requests_without_a_valid_key_are_401(client, headers):
    answer = await client.get("/api/v3/orders/anything", headers=headers)
    assert answer.status_code == 401 and answer.json()["code"] == "unauthorized"


async def test_unknown_job_ids_are_404(client, api_key):
    for job in ["nonsense", "0" * 32 + "_1"]:
        answer = await client.get(f"/api/v3/orders/jobs/{job}", headers={"apikey": api_key})
        assert answer.status_code == 404 and answer.json()["code"] == "job_not_found"


async def test_running_the_projection_job_again_changes_nothing(client, api_key, drain, worker_context, settings):
    from workers.jobs import project_order

    order_id = unique("order")
    job = (await create(client, api_key, an_order(order_id))).json()["jobId"]
    drain()
    aggregate, _ = job.split("_")
    with psycopg.connect(settings.database_url) as conn:
        before = conn.execute("SELECT * FROM order_version WHERE aggregate_id = %s", (aggregate,)).fetchall()
        tenant = conn.execute("SELECT tenant_id FROM order_view WHERE aggregate_id = %s", (aggregate,)).fetchone()[0]
        assert project_order(str(tenant), aggregate) == 0
        after = conn.execute("SELECT * FROM order_version WHERE aggregate_id = %s", (aggregate,)).fetchall()
    assert before == after and len(after) == 1
