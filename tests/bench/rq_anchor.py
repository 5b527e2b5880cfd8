"""Anchor of processing: RQ's own rate for jobs that do nothing, with the worker class and loop of
`orderledger worker` and the enqueue options of a projection job.

`python -m tests.bench.rq_anchor QUEUE` runs one burst worker on QUEUE (the
harness starts one or two, as for the real processing figure).
"""

from __future__ import annotations

import sys
from dataclasses import replace
from datetime import datetime, timezone

from redis import Redis
from rq import Callback, Retry

from orderledger.infrastructure.queue import (
    FAILURE_TTL_SECONDS, ON_PROJECTION_FAILURE, PROJECTION_RETRY_INTERVALS, RESULT_TTL_SECONDS, order_queue,
)
from orderledger.settings import Settings

NOOP = "tests.bench.rq_anchor.noop"


def noop(tenant_id: str, aggregate_id: str) -> int:
    """A job with a projection job's arguments that does nothing."""
    return 0


def enqueue_noops(redis: Redis, queue_name: str, count: int, prefix: str) -> list[str]:
    """`count` no-op jobs, enqueued in one pipeline (the enqueue is not what this anchor measures)."""
    queue = order_queue(redis, queue_name)
    ids = [f"{prefix}_{i}" for i in range(1, count + 1)]
    for start in range(0, count, 1000):
        queue.enqueue_many([
            queue.prepare_data(
                NOOP, ("00000000-0000-0000-0000-000000000000", job), job_id=job,
                retry=Retry(max=len(PROJECTION_RETRY_INTERVALS), interval=PROJECTION_RETRY_INTERVALS),
                result_ttl=RESULT_TTL_SECONDS, failure_ttl=FAILURE_TTL_SECONDS,
                on_failure=Callback(ON_PROJECTION_FAILURE),
            )
            for job in ids[start:start + 1000]
        ])
    return ids


def ended_span(redis: Redis, job_ids: list[str]) -> tuple[int, float]:
    """How many of the jobs finished, and seconds from the first to the last end."""
    with redis.pipeline(transaction=False) as pipe:
        for job in job_ids:
            pipe.hget(f"rq:job:{job}", "ended_at")
        ends = [datetime.fromisoformat(v.decode().replace("Z", "+00:00")).replace(tzinfo=timezone.utc)
                for v in pipe.execute() if v]
    if len(ends) < 2:
        return len(ends), 0.0
    return len(ends), (max(ends) - min(ends)).total_seconds()


def main(queue_name: str) -> None:
    from workers.worker import work_until_stopped

    work_until_stopped(replace(Settings.from_env(), queue_name=queue_name), burst=True)


if __name__ == "__main__":
    main(sys.argv[1])
