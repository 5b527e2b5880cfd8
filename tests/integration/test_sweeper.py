"""The sweeper processes committed versions whose jobs never ran, against real PostgreSQL and Redis."""

from __future__ import annotations

from uuid import UUID

import psycopg
import pytest
from rq import Queue

from orderledger.domain.ids import parse_job_id
from orderledger.infrastructure.queue import pending_mark_key, pending_orders_key
from tests.conftest import unique
from tests.integration.helpers import Api, an_order
from workers import processing as processing_module
from workers.sweeper import Sweeper

pytestmark = pytest.mark.integration


@pytest.fixture
def api(client, api_key) -> Api:
    return Api(client, api_key)


@pytest.fixture
def sweeper_name(settings) -> str:
    """A sweeper of this test's own, starting at the log's head: it sees only this test's commands."""
    name = unique("sweeper")
    with psycopg.connect(settings.database_url) as conn:
        conn.execute(
            "INSERT INTO sweeper_position (name, notification_id, updated_at) "
            "SELECT %s, coalesce(max(notification_id), 0), now() FROM orderledger_events", (name,))
    return name


@pytest.fixture
def make_sweeper(settings, worker_context, redis, sweeper_name):
    made: list[Sweeper] = []

    def make() -> Sweeper:
        made.append(Sweeper(settings.database_url, worker_context.ledger, worker_context.keyring, redis, name=sweeper_name,
                             queue_name=settings.queue_name))
        return made[-1]

    yield make
    for sweeper in made:
        sweeper.close()


def lose_queued_jobs(settings, redis) -> None:
    """What a Redis without persistence does on restart: the queue's jobs and the pending set are gone."""
    Queue(settings.queue_name, connection=redis).empty()
    redis.delete(pending_orders_key(settings.queue_name), pending_mark_key(settings.queue_name))


def processed_rows(settings, job_id: str) -> int:
    aggregate_id, version = parse_job_id(job_id)
    with psycopg.connect(settings.database_url) as conn:
        return conn.execute("SELECT count(*) FROM order_version WHERE aggregate_id = %s AND version = %s",
                            (aggregate_id, version)).fetchone()[0]


async def test_a_version_whose_job_was_lost_is_processed_by_a_sweep(api, settings, redis, make_sweeper):
    job = (await api.accepted("POST", "/orders", an_order(unique("order"))))["jobId"]
    lose_queued_jobs(settings, redis)
    assert (await api.job(job))["status"] == "Queued"

    report = make_sweeper().sweep(settle=False)

    assert (report.swept, report.orders, report.versions, report.failed) == (True, 1, 1, 0)
    done = await api.job(job)
    assert done["status"] == "Completed" and done["versionTag"]


async def test_the_position_moves_to_the_head_and_a_second_sweep_finds_nothing(api, settings, redis, make_sweeper):
    order_id = unique("order")
    await api.accepted("POST", "/orders", an_order(order_id))
    await api.accepted("POST", f"/orders/{order_id}/change-status", {"status": "Shipped"})
    lose_queued_jobs(settings, redis)
    sweeper = make_sweeper()

    first = sweeper.sweep(settle=False)
    second = sweeper.sweep(settle=False)

    assert (first.orders, first.versions) == (1, 2)
    assert (second.orders, second.versions) == (0, 0) and second.position == first.position
    with psycopg.connect(settings.database_url) as conn:
        head = conn.execute("SELECT max(notification_id) FROM orderledger_events").fetchone()[0]
        stored = conn.execute("SELECT notification_id FROM sweeper_position WHERE name = %s", (sweeper.name,)).fetchone()
    assert stored[0] == first.position == head


async def test_a_settled_sweep_leaves_versions_committed_since_the_previous_sweep_to_their_jobs(
    api, settings, redis, make_sweeper
):
    sweeper = make_sweeper()
    sweeper.sweep()  # remembers the head
    job = (await api.accepted("POST", "/orders", an_order(unique("order"))))["jobId"]
    lose_queued_jobs(settings, redis)

    too_soon = sweeper.sweep()  # up to the head before the commit: the job may still be on its way
    assert too_soon.versions == 0 and (await api.job(job))["status"] == "Queued"

    later = sweeper.sweep()
    assert later.versions == 1 and (await api.job(job))["status"] == "Completed"


async def test_a_sweep_and_the_job_of_the_same_version_process_it_once(api, settings, drain, make_sweeper):
    job = (await api.accepted("POST", "/orders", an_order(unique("order"))))["jobId"]

    assert make_sweeper().sweep(settle=False).versions == 1
    drain()  # the job, late: finds the version processed

    assert processed_rows(settings, job) == 1
    assert (await api.job(job))["status"] == "Completed"


async def test_only_one_sweeper_sweeps_at_a_time(api, settings, redis, make_sweeper):
    first, second = make_sweeper(), make_sweeper()
    assert first.sweep(settle=False).swept
    job = (await api.accepted("POST", "/orders", an_order(unique("order"))))["jobId"]
    lose_queued_jobs(settings, redis)

    assert not second.sweep(settle=False).swept
    assert (await api.job(job))["status"] == "Queued"

    first.close()  # its connection, and with it the lock, goes: as when its process dies
    taken_over = second.sweep(settle=False)
    assert taken_over.swept and taken_over.versions == 1


# A bug can strike in the projection, or after it in the same transaction (which then rolls back too).
@pytest.mark.parametrize("step", ["project_order", "resolve_processed"])
async def test_a_failing_order_is_recorded_and_holds_up_neither_the_position_nor_other_orders(
    api, settings, redis, make_sweeper, monkeypatch, step
):
    poisoned = (await api.accepted("POST", "/orders", an_order(unique("order"))))["jobId"]
    healthy = (await api.accepted("POST", "/orders", an_order(unique("order"))))["jobId"]
    lose_queued_jobs(settings, redis)
    poison(monkeypatch, parse_job_id(poisoned)[0], step)
    sweeper = make_sweeper()

    report = sweeper.sweep(settle=False)

    assert (report.orders, report.versions, report.failed) == (2, 1, 1)
    assert (await api.job(healthy))["status"] == "Completed"
    failed = await api.job(poisoned)
    assert failed["status"] == "Failed" and failed["endedAt"]
    assert failed["errors"] == [{"code": "processing_failed", "detail": "RuntimeError: poisoned order"}]
    assert sweeper.sweep(settle=False).orders == 0  # the position moved past it; retrying is `jobs retry`'s


async def test_a_failure_is_left_to_rq_while_rq_will_still_retry_the_job(api, settings, make_sweeper, monkeypatch):
    job = (await api.accepted("POST", "/orders", an_order(unique("order"))))["jobId"]  # stays queued in RQ
    poison(monkeypatch, parse_job_id(job)[0])

    report = make_sweeper().sweep(settle=False)

    assert report.failed == 1
    assert (await api.job(job))["status"] == "Queued"  # not Failed while RQ's tries are still to come
    with psycopg.connect(settings.database_url) as conn:
        recorded = conn.execute("SELECT count(*) FROM projection_failure WHERE aggregate_id = %s",
                                (parse_job_id(job)[0],)).fetchone()[0]
    assert recorded == 0


async def test_a_sweep_after_its_connection_broke_reconnects_and_carries_on(api, settings, redis, make_sweeper):
    sweeper = make_sweeper()
    assert sweeper.sweep(settle=False).swept
    job = (await api.accepted("POST", "/orders", an_order(unique("order"))))["jobId"]
    lose_queued_jobs(settings, redis)
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        killed = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE %s",
            (f"orderledger-sweeper {sweeper.name} %",)).fetchall()
    assert killed == [(True,)]

    with pytest.raises(psycopg.OperationalError):
        sweeper.sweep(settle=False)
    assert sweeper.sweep(settle=False).versions == 1
    assert (await api.job(job))["status"] == "Completed"


def poison(monkeypatch, aggregate_id: UUID, step: str = "project_order") -> None:
    """Make one step of processing one order raise, as a bug triggered by its data would.

    Both forms of the step: for the order alone and in a bulk batch (workers/processing.py)."""
    for name in (step, f"{step}s" if step == "project_order" else f"{step}_many"):
        real = getattr(processing_module, name)

        def poisoned(conn, *args, _real=real):
            if any(aggregate_id == arg or (isinstance(arg, list) and aggregate_id in arg) for arg in args):
                raise RuntimeError("poisoned order")
            return _real(conn, *args)

        monkeypatch.setattr(processing_module, name, poisoned)
