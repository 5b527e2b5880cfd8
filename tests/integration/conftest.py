"""Integration fixtures: the real app in-process, and an in-process RQ SimpleWorker."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from litestar.testing import AsyncTestClient
from redis import Redis

from orderledger.api.app import create_app
from orderledger.settings import Settings
from workers.context import WorkerContext, install
from workers.worker import build_worker

pytestmark = pytest.mark.integration


@pytest.fixture
def worker_context(settings: Settings) -> Iterator[WorkerContext]:
    context = WorkerContext.open(settings)
    install(context)
    yield context
    install(None)
    context.close()


@pytest.fixture
def drain(settings: Settings, redis: Redis, worker_context: WorkerContext):
    """Run an RQ SimpleWorker in this process until the test's queue is empty."""

    def run() -> None:
        build_worker(settings, redis).work(burst=True, logging_level="WARNING")

    return run


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[AsyncTestClient]:
    async with AsyncTestClient(app=create_app(settings)) as test_client:
        yield test_client
