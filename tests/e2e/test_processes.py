"""The real `orderledger serve` and `orderledger worker` processes, driven over HTTP."""

from __future__ import annotations

import time

import httpx
import pytest

from orderledger.infrastructure.embedded import free_port
from tests.conftest import make_key, unique
from tests.e2e.helpers import service_env, start, stop, wait_for_api, wait_for_job

pytestmark = pytest.mark.e2e


@pytest.fixture
def running(settings, tmp_path):
    port = free_port()
    env = service_env(settings)
    api = start(["serve", "--port", str(port)], env, tmp_path / "api.log")
    worker = start(["worker"], env, tmp_path / "worker.log")
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_for_api(base_url, api)
        with httpx.Client(base_url=base_url, timeout=10) as client:
            yield client
    finally:
        assert stop(worker) == 0, (tmp_path / "worker.log").read_text()
        stop(api)


def test_a_created_order_reaches_completed_with_a_version_tag(running, settings):
    key = make_key(settings)
    order_id = unique("order")
    order = {"orderId": order_id, "contact": {"matchKey": "e2e@example.com"},
             "items": [{"sku": "SKU-1", "quantity": 1, "grossPaidPrice": 10.50}]}
    started = time.monotonic()
    created = running.post("/api/v3/orders", json=order, headers={"apikey": key})
    assert created.status_code == 202, created.text
    status = wait_for_job(running, created.json()["jobId"], key)
    elapsed = time.monotonic() - started
    print(f"create -> Completed in {elapsed * 1000:.0f} ms")
    assert status["status"] == "Completed" and status["versionTag"]

    read = running.get(f"/api/v3/orders/{order_id}", headers={"apikey": key})
    assert read.status_code == 200
    assert read.json()["versionTag"] == status["versionTag"] and read.json()["version"] == 1

    other = make_key(settings)
    assert running.get(f"/api/v3/orders/{order_id}", headers={"apikey": other}).status_code == 404
    assert running.get(created.headers["location"], headers={"apikey": other}).status_code == 404
