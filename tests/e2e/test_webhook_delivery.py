"""Actions over HTTP with real `orderledger serve` and `worker` processes; a worker killed mid-delivery."""

from __future__ import annotations

import signal

import httpx
import pytest

from orderledger.infrastructure.embedded import free_port
from tests.conftest import make_key, unique
from tests.e2e.helpers import service_env, start, stop, wait_for_api, wait_for_job, wait_until
from tests.receiver import running_receiver

pytestmark = pytest.mark.e2e

FAST = {"ORDERLEDGER_WEBHOOK_ALLOW_PRIVATE": "1", "ORDERLEDGER_SWEEP_INTERVAL": "0.5",
        "ORDERLEDGER_WEBHOOK_RETRY_DELAYS": "0.2,0.2,0.2"}


@pytest.fixture
def stack(settings, tmp_path):
    """The API and a way to start workers; everything started is stopped at the end."""
    port = free_port()
    env = service_env(settings, **FAST)
    api = start(["serve", "--port", str(port)], env, tmp_path / "api.log")
    workers = []

    def worker():
        workers.append(start(["worker"], env, tmp_path / f"worker-{len(workers)}.log"))
        return workers[-1]

    try:
        wait_for_api(f"http://127.0.0.1:{port}", api)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            yield client, worker
    finally:
        for process in workers:
            stop(process)
        stop(api)


def test_a_delivery_survives_a_worker_killed_mid_delivery(stack, settings):
    client, worker = stack
    key = make_key(settings)
    headers = {"apikey": key}
    first_worker = worker()
    with running_receiver(hold_first=True) as receiver:
        made = client.post("/api/v3/admin/webhooks", json={"url": receiver.url, "actions": ["ConfirmOrder"]}, headers=headers)
        assert made.status_code == 201, made.text
        order_id = unique("order")
        created = client.post("/api/v3/orders", headers=headers, json={
            "orderId": order_id, "contact": {"matchKey": "e2e@example.com"},
            "items": [{"sku": "SKU-1", "quantity": 1, "grossPaidPrice": 10.50}]})
        tag = wait_for_job(client, created.json()["jobId"], key)["versionTag"]
        action = client.post(f"/api/v3/orders/{order_id}/action", headers=headers,
                             json={"action": "ConfirmOrder", "versionTag": tag, "data": {"note": "kill me"}})
        assert action.status_code == 202, action.text

        assert receiver.first_arrived.wait(20), "the first try never reached the receiver"
        stop(first_worker, signal.SIGKILL)  # in the middle of the call, its row lock held
        receiver.release.set()  # the held request is answered to a caller that is gone
        worker()

        def delivered() -> dict | None:
            [delivery] = client.get(f"/api/v3/orders/{order_id}/deliveries", headers=headers).json()["items"]
            return delivery if delivery["status"] == "delivered" else None

        delivery = wait_until(delivered, 30, "the delivery to be delivered by the new worker", interval=0.1)
        requests = receiver.wait_for(2)

    assert {r.headers["x-orderledger-delivery"] for r in requests} == {delivery["deliveryId"]}
    assert len({r.body for r in requests}) == 1  # the same bytes: a receiver de-duplicates by the delivery id
    assert requests[0].json()["data"] == {"note": "kill me"}
    assert client.get(action.headers["location"], headers=headers).json()["status"] == "Completed"
