"""What every phase shares: the plan (how long each measurement runs), the stack, the load
generator, the rows so far, and small helpers to count what the servers did."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from redis import Redis

from tests.bench.loadgen import LoadGenerator, pinned
from tests.bench.report import Row, Run
from tests.bench.stack import Stack
from tests.e2e.helpers import service_env

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Plan:
    name: str
    warmup_seconds: float
    insert_seconds: float
    ingest_seconds: float
    naive_seconds: float
    read_seconds: float
    latency_seconds: float
    keep_up_seconds: float
    noop_jobs: int  # at most this many no-op jobs per RQ anchor
    memory_commands: int  # the API's RSS is compared at half and at all of these
    budget_seconds: float  # the whole run; the memory phase ends at it even short of memory_commands
    concurrencies: tuple[int, ...] = (16, 64)
    read_concurrency: int = 16
    poll_ms: float = 5.0


QUICK = Plan("quick (--quick: small counts, a smoke test; figures are indicative only)", warmup_seconds=1,
             insert_seconds=2, ingest_seconds=3, naive_seconds=2, read_seconds=2, latency_seconds=4,
             keep_up_seconds=3, noop_jobs=400, memory_commands=4_000, budget_seconds=75)
FULL = Plan("full", warmup_seconds=3, insert_seconds=6, ingest_seconds=12, naive_seconds=8, read_seconds=8,
            latency_seconds=20, keep_up_seconds=15, noop_jobs=3_000, memory_commands=200_000, budget_seconds=570)


@dataclass
class Bench:
    stack: Stack
    load: LoadGenerator
    plan: Plan
    run: Run
    started: float = field(default_factory=time.monotonic)
    ingest_rates: dict[int, float] = field(default_factory=dict)
    read_tenant: tuple | None = None  # (tenant id, key) whose processed orders the reads phase reads

    def add(self, row: Row) -> Row:
        self.run.rows.append(row)
        ratio = row.cells()[4]
        log(f"  {row.figure}: {row.cells()[1]} | {row.anchor or '-'}: {row.cells()[3]} | {ratio} | met: {row.cells()[6]}")
        return row

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def remaining(self) -> float:
        return self.plan.budget_seconds - self.elapsed()

    def best_concurrency(self) -> int:
        return max(self.ingest_rates, key=self.ingest_rates.__getitem__)

    def run_module(self, module: str, *args: str, timeout: float, pin: bool = True) -> str:
        """`python -m module args` with the services' environment, optionally on the load core; its stdout."""
        argv = [sys.executable, "-m", module, *args]
        done = subprocess.run(pinned(argv) if pin else argv, capture_output=True, text=True, timeout=timeout,
                              cwd=REPO, env=service_env(self.stack.settings), check=False)
        if done.returncode != 0 or "BENCH " not in done.stdout:
            raise RuntimeError(f"{module} failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
        return next(line for line in done.stdout.splitlines() if line.startswith("BENCH "))[len("BENCH "):]

    def start_module(self, module: str, *args: str, log_name: str) -> subprocess.Popen:
        """A long-running `python -m module args` in its own process group, output to a log in the run folder."""
        with (self.stack.root / f"{log_name}.log").open("ab") as out:
            return subprocess.Popen([sys.executable, "-m", module, *args], cwd=REPO, env=service_env(self.stack.settings),
                                    stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


class RedisCalls:
    """Counts the commands Redis served between `start` and `stop` (INFO commandstats, every client)."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    def total(self) -> int:
        stats = self.redis.info("commandstats")
        # The INFO that reads the counts counts itself; negligible against thousands of jobs.
        return sum(entry["calls"] for entry in stats.values())

    def __enter__(self) -> RedisCalls:
        self.redis.config_resetstat()
        self.calls = 0
        return self

    def __exit__(self, *exc: object) -> None:
        self.calls = self.total()


def waiting_work(redis: Redis, queue_name: str) -> int:
    """Work the workers have not taken yet: orders in the pending set plus jobs in the RQ queue."""
    from orderledger.infrastructure.queue import pending_orders_key

    with redis.pipeline(transaction=False) as pipe:
        pipe.scard(pending_orders_key(queue_name))
        pipe.llen(f"rq:queue:{queue_name}")
        return sum(pipe.execute())
