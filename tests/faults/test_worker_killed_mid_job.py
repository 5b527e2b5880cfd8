"""kill -9 a worker in the middle of a job, under a stream of commands: nothing lost, nothing doubled."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import httpx
import psycopg
import pytest
from orderledger.domain.ids import order_aggregate_id
from projections.order_view.updater import order_lock_key
from tests.conftest import unique
from tests.e2e.helpers import wait_until
from tests.faults.ledger import Commands, wait_until_processed
from tests.faults.stack import sweeper_holder, wait_for_sweeper
from workers.context import worker_application_name

pytestmark = pytest.mark.faults

ORDERS, UPDATES_PER_ORDER = 30, 4
# Each projection transaction is held open this long, so "mid-job" is a wide, certain target.
SLOW_PROJECTION_MS = 300
RECOVERY_BOUND_SECONDS = 30.0


# The per-order locks (one-int advisory keys) held by a worker's transaction that began under 100 ms ago.
_FRESH_TRANSACTION_LOCKS = """
SELECT coalesce(array_agg((l.classid::bigint << 32) | l.objid::bigint), '{}')
FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid
WHERE a.application_name = %s AND a.xact_start > clock_timestamp() - interval '100 milliseconds'
  AND l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
"""


@dataclass
class Interrupted:
    """Orders a worker's open projection transaction holds, with where each stood when it was caught."""

    processed: dict[UUID, int]  # the view's version (what the transaction would move past)
    committed: dict[UUID, int]  # the newest committed version (what it would reach, at most)


def transaction_in_mid_job(settings, worker_pid: int, orders: list[UUID]) -> Interrupted | None:
    """The worker's projection transaction if it began under 100 ms ago: >= 200 ms before its commit."""
    by_key = {order_lock_key(order) & 0xFFFFFFFFFFFFFFFF: order for order in orders}
    with psycopg.connect(settings.database_url) as conn:
        keys = conn.execute(_FRESH_TRANSACTION_LOCKS, (worker_application_name(worker_pid),)).fetchone()[0]
        held = [by_key[k & 0xFFFFFFFFFFFFFFFF] for k in keys if k & 0xFFFFFFFFFFFFFFFF in by_key]
        if not held:
            return None
        processed = dict(conn.execute("SELECT aggregate_id, version FROM order_view WHERE aggregate_id = ANY(%s)",
                                      (held,)).fetchall())
        committed = dict(conn.execute(
            "SELECT originator_id, max(originator_version) FROM orderledger_events WHERE originator_id = ANY(%s)"
            " GROUP BY originator_id", (held,)).fetchall())
    return Interrupted({order: processed.get(order, 0) for order in held}, committed)


def caught_up(settings, interrupted: Interrupted) -> bool:
    with psycopg.connect(settings.database_url) as conn:
        views = dict(conn.execute("SELECT aggregate_id, version FROM order_view WHERE aggregate_id = ANY(%s)",
                                  (list(interrupted.committed),)).fetchall())
    return all(views.get(order, 0) >= version for order, version in interrupted.committed.items())


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
    tenant_id, key = tenant
    slow = {"ORDERLEDGER_FAULT_SLOW_PROJECTION_MS": str(SLOW_PROJECTION_MS)}
    victim = stack.worker(**slow)
    wait_for_sweeper(settings, victim.pid)  # the victim also runs the sweeper: its successor must take over
    survivor = stack.worker(**slow)
    base_url, _ = stack.api()
    commands = Commands(base_url, key)
    order_ids = [unique("order") for _ in range(ORDERS)]
    sender = threading.Thread(target=stream, args=(commands, order_ids))
    aggregates = [order_aggregate_id(str(tenant_id), order_id) for order_id in order_ids]
    sender.start()
    try:
        interrupted = wait_until(lambda: transaction_in_mid_job(settings, victim.pid, aggregates), 30,
                                 "the victim to be in the middle of a projection transaction", interval=0.005)
        before_kill = database_clock(settings)
        stack.kill(victim)
        killed = time.monotonic()
    finally:
        sender.join()

    wait_until(lambda: caught_up(settings, interrupted), RECOVERY_BOUND_SECONDS,
               "the interrupted orders to be processed", interval=0.05)
    recovered = time.monotonic() - killed
    counted, drained = wait_until_processed(settings, commands.orders, RECOVERY_BOUND_SECONDS)
    with httpx.Client(base_url=base_url, timeout=10) as client:
        statuses = [client.get(f"/api/v3/orders/jobs/{job}", headers={"apikey": key}).json()["status"]
                    for job in commands.jobs]
    # The survivor's sweeper takes the lock at its next sweep once the victim's session is gone.
    wait_until(lambda: sweeper_holder(settings) == survivor.pid, 10, "the survivor's sweeper to hold the lock", 0.05)
    # The first version each interrupted transaction would have processed was processed after the kill.
    with psycopg.connect(settings.database_url) as conn:
        processed_at = [conn.execute("SELECT processed_at FROM order_version WHERE aggregate_id = %s AND version = %s",
                                     (order, version + 1)).fetchone()[0]
                        for order, version in interrupted.processed.items()
                        if interrupted.committed.get(order, 0) > version]

    print(f"\nworker killed mid-job: {len(commands.jobs)} commands ({len(commands.failures)} refused), "
          f"{counted.processed}/{counted.committed} versions processed, duplicates={counted.duplicates}, "
          f"gaps={counted.gaps}, reordered={counted.reordered}; the {len(interrupted.processed)} orders of the interrupted "
          f"transaction processed {recovered:.2f}s after "
          f"the kill (bound {RECOVERY_BOUND_SECONDS:.0f}s), every version processed {drained:.2f}s after that; "
          f"sweeper taken over by the survivor")
    assert not commands.failures, commands.failures
    assert len(commands.jobs) == ORDERS * (1 + UPDATES_PER_ORDER)
    assert counted.exact and counted.committed == len(commands.jobs), counted
    assert statuses == ["Completed"] * len(commands.jobs)
    assert processed_at and all(at > before_kill for at in processed_at), \
        "the kill landed before the interrupted transaction's commit"
    assert survivor.poll() is None
