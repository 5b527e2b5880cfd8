"""Ingest: create-order commands/s over HTTP, each answered 202, beside the raw INSERT + COMMIT rate at
the same concurrency and beside a naive get + save app on the same server."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys

import httpx

from orderledger.infrastructure.embedded import free_port
from tests.bench.context import REPO, Bench, RedisCalls, log
from tests.bench.insert_anchor import DDL as RAW_EVENTS_DDL
from tests.bench.loadgen import LoadResult
from tests.bench.report import Row
from tests.e2e.helpers import service_env, stop, wait_until


def warm_up(bench: Bench) -> None:
    """A few seconds of commands first: pools filled, code paths imported, the JIT-less caches warm."""
    _, key = bench.stack.new_tenant("warmup")
    bench.load.post_orders(bench.stack.api_url, key, f"warm-{secrets.token_hex(3)}", 16, bench.plan.warmup_seconds)


def event_state_bytes(bench: Bench) -> int:
    """The average size of a stored event's state, so the raw anchor inserts rows of the same size."""
    with bench.stack.connect() as conn:
        size = conn.execute("SELECT avg(octet_length(state))::int FROM orderledger_events").fetchone()[0]
    return size or 1000


def raw_insert_rate(bench: Bench, concurrency: int, state_bytes: int) -> float:
    with bench.stack.connect() as conn:
        conn.execute(RAW_EVENTS_DDL)
    result = json.loads(bench.run_module("tests.bench.insert_anchor", bench.stack.settings.database_url,
                                         str(concurrency), str(bench.plan.insert_seconds), str(state_bytes),
                                         timeout=bench.plan.insert_seconds + 120))
    return result["rows"] / result["seconds"]


def _how(result: LoadResult, concurrency: int, extra: str = "") -> str:
    others = result.others(202)
    return (f"{result.statuses.get(202, 0):,} × 202 in {result.seconds:.1f} s, {others} other answers"
            f"{' (' + json.dumps(result.statuses) + ')' if others else ''}; latency p50 {result.p50_ms:.0f} / "
            f"p99 {result.p99_ms:.0f} ms{extra}")


def measure_ingest(bench: Bench, concurrency: int, state_bytes: int) -> LoadResult:
    """Ingest at `concurrency` clients, no workers running (the jobs stay queued for the processing figure)."""
    anchor = raw_insert_rate(bench, concurrency, state_bytes)
    tenant, key = bench.stack.new_tenant(f"ingest{concurrency}")
    if bench.read_tenant is None:
        bench.read_tenant = (tenant, key)
    redis = bench.stack.redis()
    try:
        with RedisCalls(redis) as calls:
            result = bench.load.post_orders(bench.stack.api_url, key, f"i{concurrency}-{secrets.token_hex(3)}",
                                            concurrency, bench.plan.ingest_seconds)
    finally:
        redis.close()
    rate = result.rate(202)
    bench.ingest_rates[concurrency] = rate
    per_command = calls.calls / max(1, result.statuses.get(202, 0))
    bench.add(Row(
        f"ingest: create-order, {concurrency} clients", rate, "cmd/s",
        f"raw single-row INSERT + COMMIT, {concurrency} asyncpg connections, rows of {state_bytes} B", anchor, "rows/s",
        target=("%", 0.5), note=_how(result, concurrency, f"; {per_command:.1f} Redis commands per command"),
    ))
    return result


class NaiveServer:
    """tests/bench/naive_app.py under uvicorn, started like `orderledger serve` starts the real app."""

    def __init__(self, bench: Bench) -> None:
        self.bench = bench
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> NaiveServer:
        with (self.bench.stack.root / "naive-app.log").open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "tests.bench.naive_app:build", "--factory", "--host", "127.0.0.1",
                 "--port", str(self.port), "--log-level", "warning", "--no-access-log"],
                cwd=REPO, env=service_env(self.bench.stack.settings), stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True)

        def ready() -> bool:
            assert self.process is not None and self.process.poll() is None, "the naive app exited"
            try:
                return httpx.get(f"{self.url}/health", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(ready, 60, "the naive app")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            stop(self.process)


def measure_naive(bench: Bench, results: dict[int, LoadResult]) -> None:
    """The naive app at each concurrency, beside the real API's ingest measured earlier in this run."""
    with NaiveServer(bench) as naive:
        log(f"naive app up at {naive.url}")
        bench.load.post_orders(naive.url, None, f"nw-{secrets.token_hex(3)}", 16, bench.plan.warmup_seconds)
        for concurrency, real in results.items():
            baseline = bench.load.post_orders(naive.url, None, f"n{concurrency}-{secrets.token_hex(3)}", concurrency,
                                              bench.plan.naive_seconds)
            bench.add(Row(
                f"ingest: create-order, {concurrency} clients", real.rate(202), "cmd/s",
                f"naive app: one eventsourcing get + save per request, same server, {concurrency} clients",
                baseline.rate(202), "cmd/s", target=("x", 3), note="naive: " + _how(baseline, concurrency),
            ))
