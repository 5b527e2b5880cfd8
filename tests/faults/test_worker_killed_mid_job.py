"""kill -9 a worker in the middle of a job, under a stream of commands: nothing lost, nothing doubled."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone

import httpx
import psycopg
import pytest
from redis import Redis
from rq.utils import utcparse

from orderledger.domain.ids import parse_job_id
from projections.order_view.updater import order_lock_key
from tests.conftest import unique
from tests.e2e.helpers import wait_until
from tests.faults.ledger import Commands, wait_until_processed
from tests.faults.stack import sweeper_holder, wait_for_sweeper

pytestmark = pytest.mark.faults

ORDERS, UPDATES_PER_ORDER = 30, 4
# Each job holds its transaction open this long, so "mid-job" is a wide, certain target.
SLOW_PROJECTION_MS = 300
RECOVERY_BOUND_SECONDS = 30.0


def in_open_transaction(settings, job: str) -> bool:
    """Whether the job's projection transaction is open: it holds the order's advisory lock until commit."""
    key = order_lock_key(parse_job_id(job)[0]) & 0xFFFFFFFFFFFFFFFF
    with psycopg.connect(settings.database_url) as conn:
        return conn.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1"
            " AND classid::bigint = %s AND objid::bigint = %s)", (key >> 32, key & 0xFFFFFFFF)).fetchone()[0]


def job_started_mid_transaction(settings, redis: Redis, worker_pid: int) -> str | None:
    """A job the worker started under 100 ms ago and whose transaction is open: >= 200 ms before its commit."""
    for worker_key in redis.smembers(f"rq:workers:{settings.queue_name}"):
        pid, job = redis.hmget(worker_key, "pid", "current_job")
        if job and int(pid or 0) == worker_pid:
            started = redis.hget(f"rq:job:{job.decode()}", "started_at")
            age = (datetime.now(timezone.utc) - utcparse(started.decode()).replace(tzinfo=timezone.utc)).total_seconds() \
                if started else 1.0
            if age < 0.1 and in_open_transaction(settings, job.decode()):
                return job.decode()
    return None


def database_clock(settings) -> datetime:
    with psycopg.connect(settings.database_url) as conn:
        return conn.execute("SELECT clock_timestamp()").fetchone()[0]


def stream(commands: Commands, order_ids: list[str]) -> None:
    with httpx.Client(timeout=30) as client:
        for order_id in order_ids:
            commands.create(client, order_id)
        for n in range(UPDATES_PER_ORDER):
            for order_id in order_ids:
                commands.change_status(client, order_id, f"S{n}")
                time.sleep(0.01)  # a steady stream, so the kill lands in the middle of it


def test_a_worker_killed_mid_job_loses_and_doubles_nothing(stack, settings, tenant):
    _, key = tenant
    slow = {"ORDERLEDGER_FAULT_SLOW_PROJECTION_MS": str(SLOW_PROJECTION_MS)}
    victim = stack.worker(**slow)
    wait_for_sweeper(settings, victim.pid)  # the victim also runs the sweeper: its successor must take over
    survivor = stack.worker(**slow)
    base_url, _ = stack.api()
    commands = Commands(base_url, key)
    order_ids = [unique("order") for _ in range(ORDERS)]
    sender = threading.Thread(target=stream, args=(commands, order_ids))
    sender.start()
    try:
        with Redis.from_url(settings.redis_url) as redis:
            interrupted = wait_until(lambda: job_started_mid_transaction(settings, redis, victim.pid), 30,
                                     "the victim to be in the middle of a job", interval=0.005)
            before_kill = database_clock(settings)
            stack.kill(victim)
            killed = time.monotonic()
    finally:
        sender.join()

    with httpx.Client(base_url=base_url, timeout=10) as client:
        def completed() -> bool:
            answer = client.get(f"/api/v3/orders/jobs/{interrupted}", headers={"apikey": key})
            return answer.json()["status"] == "Completed"

        wait_until(completed, RECOVERY_BOUND_SECONDS, f"interrupted job {interrupted} to complete", interval=0.05)
        recovered = time.monotonic() - killed
        counted, drained = wait_until_processed(settings, commands.orders, RECOVERY_BOUND_SECONDS)
        statuses = [client.get(f"/api/v3/orders/jobs/{job}", headers={"apikey": key}).json()["status"]
                    for job in commands.jobs]
    # The survivor's sweeper takes the lock at its next sweep once the victim's session is gone.
    wait_until(lambda: sweeper_holder(settings) == survivor.pid, 10, "the survivor's sweeper to hold the lock", 0.05)
    with psycopg.connect(settings.database_url) as conn:
        processed_at = conn.execute("SELECT processed_at FROM order_version WHERE aggregate_id = %s AND version = %s",
                                    parse_job_id(interrupted)).fetchone()[0]

    print(f"\nworker killed mid-job: {len(commands.jobs)} commands ({len(commands.failures)} refused), "
          f"{counted.processed}/{counted.committed} versions processed, duplicates={counted.duplicates}, "
          f"gaps={counted.gaps}, reordered={counted.reordered}; interrupted job completed {recovered:.2f}s after "
          f"the kill (bound {RECOVERY_BOUND_SECONDS:.0f}s), every version processed {drained:.2f}s after that; "
          f"sweeper taken over by the survivor")
    assert not commands.failures, commands.failures
    assert len(commands.jobs) == ORDERS * (1 + UPDATES_PER_ORDER)
    assert counted.exact and counted.committed == len(commands.jobs), counted
    assert statuses == ["Completed"] * len(commands.jobs)
    assert processed_at > before_kill, "the kill landed before the interrupted job's commit"
    assert survivor.poll() is None
