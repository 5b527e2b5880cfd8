"""A job that keeps failing: retried by RQ, then Failed for good, recorded in PostgreSQL, retried by an operator."""

from __future__ import annotations

from uuid import UUID

import psycopg
import pytest
from click.testing import CliRunner
from rq.job import Job

from orderledger.cli import main
from orderledger.domain.ids import parse_job_id
from orderledger.infrastructure import queue as queue_module
from tests.conftest import make_key, unique
from tests.integration.helpers import Api, an_order
from workers import processing as processing_module
from workers.worker import build_worker

pytestmark = pytest.mark.integration

# RQ's real pauses (1 s ... 60 s) would outlast the test; no pause, same number of tries decided by RQ.
TRIES = 3


@pytest.fixture
def tenant(settings) -> str:
    return unique("tenant")


@pytest.fixture
def api(client, settings, tenant, monkeypatch) -> Api:
    monkeypatch.setattr(queue_module, "PROJECTION_RETRY_INTERVALS", [0] * (TRIES - 1))
    return Api(client, make_key(settings, tenant))


@pytest.fixture
def poisoned(monkeypatch) -> set[UUID]:
    """Orders whose projection raises, as a bug triggered by their data would."""
    orders: set[UUID] = set()
    one, many = processing_module.project_order, processing_module.project_orders

    def project_one(conn, ledger, keyring, order):
        if order in orders:
            raise RuntimeError("poisoned order")
        return one(conn, ledger, keyring, order)

    def project_many(conn, ledger, keyring, batch):
        if orders & set(batch):
            raise RuntimeError("poisoned order")
        return many(conn, ledger, keyring, batch)

    monkeypatch.setattr(processing_module, "project_order", project_one)
    monkeypatch.setattr(processing_module, "project_orders", project_many)
    return orders


@pytest.fixture
def cli(settings):
    env = {"ORDERLEDGER_DATABASE_URL": settings.database_url, "ORDERLEDGER_REDIS_URL": settings.redis_url,
           "ORDERLEDGER_QUEUE": settings.queue_name, "ORDERLEDGER_LOG_LEVEL": "WARNING"}

    def run(*args: str) -> str:
        result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.stdout

    return run


async def a_failing_order(api: Api, poisoned: set[UUID]) -> str:
    job = (await api.accepted("POST", "/orders", an_order(unique("order"))))["jobId"]
    poisoned.add(parse_job_id(job)[0])
    return job


def recorded(settings, job: str) -> tuple | None:
    aggregate_id, version = parse_job_id(job)
    with psycopg.connect(settings.database_url) as conn:
        return conn.execute(
            "SELECT attempts, error, resolved_at FROM projection_failure WHERE aggregate_id = %s AND version = %s",
            (aggregate_id, version)).fetchone()


async def test_a_job_that_keeps_failing_is_failed_with_its_error_after_the_last_try(api, poisoned, settings, redis, drain):
    job = await a_failing_order(api, poisoned)

    build_worker(settings, redis).work(burst=True, max_jobs=1, logging_level="ERROR")
    assert (await api.job(job))["status"] == "Queued"  # RQ tries again: not failed yet
    assert recorded(settings, job) is None

    drain()
    failed = await api.job(job)
    assert failed["status"] == "Failed" and failed["endedAt"] and failed["versionTag"] is None
    assert failed["errors"] == [{"code": "processing_failed", "detail": "RuntimeError: poisoned order"}]
    attempts, error, resolved_at = recorded(settings, job)
    assert attempts == TRIES and resolved_at is None
    assert "Traceback" in error  # the whole story is kept for the operator


async def test_a_failed_job_stays_failed_after_rq_forgets_it(api, poisoned, redis, drain):
    job = await a_failing_order(api, poisoned)
    drain()

    Job.fetch(job, connection=redis).delete()

    assert (await api.job(job))["status"] == "Failed"


async def test_a_failing_order_does_not_hold_up_other_orders(api, poisoned, drain):
    failing = await a_failing_order(api, poisoned)
    healthy = (await api.accepted("POST", "/orders", an_order(unique("order"))))["jobId"]

    drain()

    assert (await api.job(failing))["status"] == "Failed"
    assert (await api.job(healthy))["status"] == "Completed"


async def test_failed_jobs_are_listed_per_tenant(api, poisoned, tenant, settings, drain, cli):
    job = await a_failing_order(api, poisoned)
    drain()

    listed = cli("jobs", "failed", "--tenant", tenant)

    header, line = listed.strip().splitlines()
    assert header.split("\t") == ["jobId", "orderId", "attempts", "error", "failedAt"]
    job_id, order_id, attempts, error, _failed_at = line.split("\t")
    assert (job_id, attempts, error) == (job, str(TRIES), "RuntimeError: poisoned order")
    assert order_id == (await api.job(job))["orderId"]
    make_key(settings, "someone-else")
    assert job not in cli("jobs", "failed", "--tenant", "someone-else")


async def test_a_retried_job_that_succeeds_wins_over_its_recorded_failure(api, poisoned, settings, drain, cli):
    job = await a_failing_order(api, poisoned)
    drain()
    poisoned.clear()  # the bug is fixed

    cli("jobs", "retry", job)
    assert (await api.job(job))["status"] == "Queued"  # a retry under way outranks the recorded failure
    drain()

    done = await api.job(job)
    assert done["status"] == "Completed" and done["errors"] == [] and done["versionTag"]
    assert recorded(settings, job)[2] is not None  # resolved
    assert job not in cli("jobs", "failed")


async def test_retry_all_enqueues_every_failed_job_of_the_tenant(api, poisoned, tenant, drain, cli):
    jobs = [await a_failing_order(api, poisoned) for _ in range(2)]
    drain()
    poisoned.clear()

    out = cli("jobs", "retry", "--all", "--tenant", tenant)
    drain()

    assert all(f"re-enqueued {job}" in out for job in jobs)
    assert [(await api.job(job))["status"] for job in jobs] == ["Completed", "Completed"]
    assert cli("jobs", "failed", "--tenant", tenant).strip() == ""


async def test_a_job_that_fails_again_after_a_retry_counts_every_attempt(api, poisoned, settings, drain, cli):
    job = await a_failing_order(api, poisoned)
    drain()

    cli("jobs", "retry", job)
    drain()

    assert (await api.job(job))["status"] == "Failed"
    assert recorded(settings, job)[0] == 2 * TRIES
