"""`--prototypes`: phase-2 designs measured in-process against today's way, in the same run.

Nothing here is used by the service. Each group compares one design with
what the service does today, on the same servers, back to back:

- write: `save()` per command from 16 threads (today) / the same with
  POSTGRES_ENABLE_DB_FUNCTIONS / group commit (16 threads hand their new
  aggregates to one committer thread, which saves whatever has gathered, up to
  64, in one transaction: one table lock and one commit per batch) / both;
- enqueue: one `enqueue_projection` per version (today) / `enqueue_many` of
  64 in one pipeline / one coalesced job per 64 versions;
- projection: one transaction per order (today's job body, without RQ) /
  100 orders per transaction / a bulk projector (one read of the streams, one
  executemany of views and of versions per 100 orders);
- read: the API's order read on an asyncpg pool with and without the pool's
  reset query on release.
"""

from __future__ import annotations

import queue
import threading
import time
import uuid
from concurrent.futures import Future
from uuid import UUID

import msgspec
from eventsourcing.persistence import IntegrityError

from orderledger.application import OrderLedger
from orderledger.domain.ids import job_id
from orderledger.domain.model import OrderIn, order_data_to_document
from orderledger.domain.order import Order
from orderledger.infrastructure.queue import enqueue_projection, order_queue
from tests.bench.context import Bench, RedisCalls, log
from tests.bench.loadgen import ORDER_BODY_TEMPLATE
from tests.bench.report import Row
from tests.bench.rq_anchor import NOOP

THREADS = 16
MAX_BATCH = 64


def _new_order(tenant: str, prefix: str, i: int) -> Order:
    data = msgspec.json.decode((ORDER_BODY_TEMPLATE % f"{prefix}-{i}").encode(), type=OrderIn)
    cause = {"command": "RegisterOrder", "requestId": str(uuid.uuid4()), "apiKey": "olk_bnch"}
    return Order.register(tenant, data.order_id, order_data_to_document(data), cause)


def _drive(tenant: str, seconds: float, save) -> tuple[list[UUID], float]:  # noqa: ANN001
    """THREADS threads creating orders through `save(order)` for `seconds`; the ids saved and the rate."""
    saved: list[UUID] = []
    deadline = time.monotonic() + seconds

    def producer(n: int) -> None:
        i = 0
        while time.monotonic() < deadline:
            i += 1
            order = _new_order(tenant, f"p{n}-{uuid.uuid4().hex[:6]}", i)
            save(order)
            saved.append(order.id)

    threads = [threading.Thread(target=producer, args=(n,)) for n in range(THREADS)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return saved, len(saved) / (time.monotonic() - started)


class GroupCommitter:
    """One thread saves, in one transaction, every aggregate handed to it while the previous save ran."""

    def __init__(self, ledger: OrderLedger) -> None:
        self.ledger, self.batches, self.saved = ledger, 0, 0
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def save(self, order: Order) -> None:
        done: Future = Future()
        self._queue.put((order, done))
        done.result()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            batch = [item]
            while len(batch) < MAX_BATCH and not self._queue.empty():
                nxt = self._queue.get()
                if nxt is None:
                    self._queue.put(None)
                    break
                batch.append(nxt)
            try:
                self.ledger.save(*(order for order, _ in batch))
                results = [None] * len(batch)
            except IntegrityError:  # one duplicate fails the batch: save each alone to find it
                results = [self._save_alone(order) for order, _ in batch]
            for (_, done), result in zip(batch, results):
                done.set_exception(result) if result else done.set_result(None)
            self.batches += 1
            self.saved += len(batch)

    def _save_alone(self, order: Order) -> Exception | None:
        try:
            self.ledger.save(order)
        except IntegrityError as error:
            return error
        return None


def write_prototypes(bench: Bench, tenant: str, seconds: float) -> dict[str, list[UUID]]:
    env = bench.stack.settings.eventsourcing_env()
    ledger = OrderLedger(env=env)
    functions = OrderLedger(env={**env, "POSTGRES_ENABLE_DB_FUNCTIONS": "y"})
    committer, both = GroupCommitter(ledger), GroupCommitter(functions)
    try:
        today, today_rate = _drive(tenant, seconds, ledger.save)
        with_functions, functions_rate = _drive(tenant, seconds, functions.save)
        grouped, grouped_rate = _drive(tenant, seconds, committer.save)
        _, both_rate = _drive(tenant, seconds, both.save)
    finally:
        committer.close()
        both.close()
        ledger.close()
        functions.close()
    anchor = f"save() per command, {THREADS} threads (today)"
    bench.add(Row("write: POSTGRES_ENABLE_DB_FUNCTIONS=y, save() per command", functions_rate, "events/s", anchor,
                  today_rate, "events/s", style="x",
                  note="one round trip, no LOCK TABLE (NOTIFY's commit lock orders commits instead)"))
    bench.add(Row(f"write: group commit, up to {MAX_BATCH} aggregates per save()", grouped_rate, "events/s", anchor,
                  today_rate, "events/s", style="x",
                  note=f"mean batch {committer.saved / max(1, committer.batches):.1f} aggregates"))
    bench.add(Row("write: group commit with POSTGRES_ENABLE_DB_FUNCTIONS=y", both_rate, "events/s", anchor,
                  today_rate, "events/s", style="x",
                  note=f"mean batch {both.saved / max(1, both.batches):.1f} aggregates"))
    return {"today": today, "functions": with_functions, "grouped": grouped}


def enqueue_prototypes(bench: Bench, tenant: UUID, orders: list[UUID]) -> None:
    redis = bench.stack.redis()
    scratch = order_queue(redis, f"bench-proto-{uuid.uuid4().hex[:6]}")
    try:
        def timed(fn) -> tuple[float, float]:  # noqa: ANN001
            with RedisCalls(redis) as calls:
                started = time.perf_counter()
                fn()
            return len(orders) / (time.perf_counter() - started), calls.calls / len(orders)

        def one_by_one() -> None:
            for aggregate_id in orders:
                enqueue_projection(scratch, tenant, aggregate_id, 1)

        def pipelined() -> None:
            from rq import Callback, Retry

            from orderledger.infrastructure.queue import (FAILURE_TTL_SECONDS, ON_PROJECTION_FAILURE,
                                                          PROJECTION_RETRY_INTERVALS, RESULT_TTL_SECONDS)
            for start in range(0, len(orders), MAX_BATCH):
                scratch.enqueue_many([scratch.prepare_data(
                    NOOP, (str(tenant), str(a)), job_id=job_id(a, 2),
                    retry=Retry(max=len(PROJECTION_RETRY_INTERVALS), interval=PROJECTION_RETRY_INTERVALS),
                    result_ttl=RESULT_TTL_SECONDS, failure_ttl=FAILURE_TTL_SECONDS,
                    on_failure=Callback(ON_PROJECTION_FAILURE)) for a in orders[start:start + MAX_BATCH]])

        def coalesced() -> None:
            for start in range(0, len(orders), MAX_BATCH):
                batch = orders[start:start + MAX_BATCH]
                scratch.enqueue(NOOP, str(tenant), ",".join(str(a) for a in batch),
                                job_id=f"batch_{job_id(batch[0], 3)}", result_ttl=3600)

        today, today_calls = timed(one_by_one)
        for name, fn in ((f"enqueue_many, {MAX_BATCH} jobs per pipeline", pipelined),
                         (f"one coalesced job per {MAX_BATCH} versions", coalesced)):
            rate, calls = timed(fn)
            bench.add(Row(f"enqueue: {name}", rate, "versions/s", "enqueue_projection per version (today)", today,
                          "versions/s", style="x",
                          note=f"{calls:.2f} Redis commands per version (today {today_calls:.1f}); one thread"))
    finally:
        redis.close()


def run_prototypes(bench: Bench) -> None:
    from tests.bench.prototypes_read import projection_prototypes, read_prototypes

    tenant, _ = bench.stack.new_tenant("prototypes")
    seconds = max(3.0, bench.plan.ingest_seconds / 2)
    log(f"write prototypes, {seconds:g} s each")
    sets = write_prototypes(bench, str(tenant), seconds)
    log("enqueue prototypes")
    enqueue_prototypes(bench, tenant, sets["today"][:2000])
    count = min(len(s) for s in sets.values())
    log(f"projection prototypes, {min(count, 3000):,} orders each")
    projection_prototypes(bench, sets, min(count, 3000))
    log("read prototypes")
    read_prototypes(bench, tenant, seconds)
