"""The coalesced fast path: commands add their orders to the pending set; few RQ jobs process them in bulk."""

from __future__ import annotations

import asyncio

import pytest
from rq.job import Job
from rq.registry import FinishedJobRegistry
from rq.serializers import JSONSerializer

from orderledger.infrastructure.queue import PROJECT_PENDING, pending_mark_key, pending_orders_key
from tests.conftest import make_key, unique
from tests.integration.helpers import Api, an_order

pytestmark = pytest.mark.integration

COMMANDS = 30


@pytest.fixture
def api(client, settings) -> Api:
    return Api(client, make_key(settings))


def finished_jobs(settings, redis) -> list[Job]:
    registry = FinishedJobRegistry(settings.queue_name, connection=redis, serializer=JSONSerializer)
    return [job for job in Job.fetch_many(registry.get_job_ids(), connection=redis, serializer=JSONSerializer) if job]


async def test_many_commands_are_processed_by_few_jobs_in_bulk(api, settings, redis, drain):
    order_ids = [unique("order") for _ in range(COMMANDS // 2)]
    jobs = [(await api.accepted("POST", "/orders", an_order(order_id)))["jobId"] for order_id in order_ids]
    jobs += [(await api.accepted("POST", f"/orders/{order_id}/change-status", {"status": "Confirmed"}))["jobId"]
             for order_id in order_ids]
    assert redis.scard(pending_orders_key(settings.queue_name)) == len(order_ids)  # one entry per order, not per command

    drain()

    statuses = await asyncio.gather(*(api.job(job) for job in jobs))
    assert [s["status"] for s in statuses] == ["Completed"] * COMMANDS
    assert all(s["versionTag"] for s in statuses)
    ran = [job for job in finished_jobs(settings, redis) if job.func_name == PROJECT_PENDING]
    assert 1 <= len(ran) < COMMANDS / 3  # RQ ran a handful of jobs, not one per command
    assert sum(job.return_value() for job in ran) == COMMANDS  # and they processed every version once
    assert redis.scard(pending_orders_key(settings.queue_name)) == 0
    assert not redis.exists(pending_mark_key(settings.queue_name))  # the last job dropped its mark as it ended


async def test_a_command_after_the_job_ended_gets_a_new_job(api, settings, redis, drain):
    first = (await api.accepted("POST", "/orders", an_order(unique("order"))))["jobId"]
    drain()
    second = (await api.accepted("POST", "/orders", an_order(unique("order"))))["jobId"]
    assert redis.exists(pending_mark_key(settings.queue_name))  # it enqueued a job: none was looking

    drain()

    assert (await api.job(first))["status"] == (await api.job(second))["status"] == "Completed"
