"""Processing: versions projected per second by 1 and 2 `orderledger worker --burst` processes working
off the backlog the ingest left, beside RQ's own no-op job rate with the same worker class and loop."""

from __future__ import annotations

import secrets

from tests.bench.context import Bench, RedisCalls, log, waiting_work
from tests.bench.report import Row
from tests.bench.rq_anchor import ended_span, enqueue_noops
from tests.e2e.helpers import stop, wait_until

# Committed versions that no order_version row records as processed.
_UNPROCESSED = """
SELECT count(*) FROM orderledger_events e
LEFT JOIN order_version v ON v.aggregate_id = e.originator_id AND v.version = e.originator_version
WHERE v.aggregate_id IS NULL
"""


def measure_processing(bench: Bench, workers: int) -> None:
    stack = bench.stack
    redis = stack.redis()
    try:
        backlog = waiting_work(redis, stack.settings.queue_name)
        with stack.connect() as conn:
            mark = conn.execute("SELECT clock_timestamp()").fetchone()[0]
        log(f"processing a backlog of {backlog:,} waiting orders and jobs with {workers} burst worker(s)")
        with RedisCalls(redis) as calls:
            started = stack.start_workers(workers, burst=True)
            stack.wait_for_workers(started, timeout=backlog / 20 + 120)
        with stack.connect() as conn:
            count, first, last = conn.execute(
                "SELECT count(*), min(processed_at), max(processed_at) FROM order_version WHERE processed_at >= %s",
                (mark,)).fetchone()
            left = conn.execute(_UNPROCESSED).fetchone()[0]
        failed = failed_jobs(bench)
        rate = (count - 1) / (last - first).total_seconds() if count > 1 else None
        noop_rate, noop_calls = noop_rate_of(bench, workers, min(max(count, 100), bench.plan.noop_jobs))
    finally:
        redis.close()
    bench.add(Row(
        f"processing: versions projected, {workers} worker(s), until the queue is empty", rate, "versions/s",
        f"RQ no-op jobs, {workers} burst OrderWorker (SimpleWorker) process(es)", noop_rate, "jobs/s",
        note=(f"{count:,} versions (first to last processed_at); {calls.calls / max(1, count):.0f} Redis commands "
              f"per version vs {noop_calls:.0f} per no-op job; {left} committed versions left unprocessed, "
              f"{failed} jobs failed or awaiting a retry"),
    ))


def failed_jobs(bench: Bench) -> int:
    """Jobs of the order queue that RQ failed for good or holds for a retry (they should be none)."""
    from rq.registry import FailedJobRegistry, ScheduledJobRegistry

    from orderledger.infrastructure.queue import order_queue

    redis = bench.stack.redis()
    try:
        queue = order_queue(redis, bench.stack.settings.queue_name)
        return FailedJobRegistry(queue=queue).count + ScheduledJobRegistry(queue=queue).count
    finally:
        redis.close()


def noop_rate_of(bench: Bench, workers: int, jobs: int) -> tuple[float | None, float]:
    """Jobs/s of `workers` burst processes on `jobs` no-op jobs (first to last ended_at), and Redis commands per job."""
    redis = bench.stack.redis()
    queue = f"bench-noop-{secrets.token_hex(3)}"
    try:
        ids = enqueue_noops(redis, queue, jobs, queue)
        with RedisCalls(redis) as calls:
            processes = [bench.start_module("tests.bench.rq_anchor", queue, log_name=f"{queue}-{i}")
                         for i in range(workers)]
            try:
                wait_until(lambda: all(p.poll() is not None for p in processes), jobs / 20 + 120,
                           "no-op workers to empty their queue", interval=0.1)
            finally:
                for process in processes:
                    stop(process)
        done, span = ended_span(redis, ids)
    finally:
        redis.close()
    if done < jobs:
        log(f"  only {done} of {jobs} no-op jobs ended")
    return ((done - 1) / span if span else None), calls.calls / max(1, done)
