"""Fixtures and helpers for the action and webhook tests: a real receiver, fast retries, workers run to the end.

Import the fixtures by name into a test module (they override `settings` for it).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from redis import Redis
from rq.registry import ScheduledJobRegistry

from orderledger.automation.dispatch import webhook_queue
from orderledger.infrastructure.queue import order_queue
from orderledger.settings import Settings
from tests.conftest import unique
from tests.integration.helpers import Api
from tests.receiver import Receiver, running_receiver
from workers.context import WorkerContext
from workers.worker import build_worker

# Pauses between tries: three tries in all, a tenth of a second apart.
FAST_RETRIES = (0.05, 0.05)


@pytest.fixture
def settings(base_settings: Settings) -> Settings:
    """This test's own queue; local receivers allowed; fast retries."""
    return replace(base_settings, queue_name=unique("q"), webhook_allow_private=True,
                   webhook_retry_delays=FAST_RETRIES, webhook_timeout=5.0)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


@pytest.fixture
def api(client, api_key) -> Api:
    return Api(client, api_key)


@pytest.fixture
def settle(settings: Settings, redis: Redis, worker_context: WorkerContext):
    """Run in-process workers (with RQ's scheduler, for retries) until no job is queued or scheduled."""

    def run(timeout: float = 20.0) -> None:
        queues = [order_queue(redis, settings.queue_name), webhook_queue(redis, settings.queue_name)]
        deadline = time.monotonic() + timeout
        while True:
            build_worker(settings, redis).work(burst=True, with_scheduler=True, logging_level="WARNING")
            if not any(q.count or ScheduledJobRegistry(queue=q).count for q in queues):
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"jobs still queued or scheduled after {timeout}s")
            time.sleep(0.02)

    return run


async def subscribe(api: Api, url: str, actions: list[str] | None = None, events: list[str] | None = None) -> dict[str, Any]:
    answer = await api.send("POST", "/admin/webhooks", {"url": url, "actions": actions or [], "events": events or []})
    assert answer.status_code == 201, answer.text
    return answer.json()


async def processed_tag(api: Api, settle, job_id: str) -> str:
    """Process the job's version and answer its VersionTag."""
    settle()
    status = await api.job(job_id)
    assert status["status"] in ("Completed", "CompletedWithErrors"), status
    return status["versionTag"]


def verify_as_a_receiver(secret: str, headers: dict[str, str], body: bytes, tolerance: int = 300) -> bool:
    """What the README tells receivers to do, written independently of the service's own code."""
    parts = dict(item.split("=", 1) for item in headers["x-orderledger-signature"].split(","))
    timestamp = int(parts["t"])
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return abs(time.time() - timestamp) <= tolerance and hmac.compare_digest(expected, parts["v1"])
