"""`python -m tests.bench [--quick] [--output FILE] [--no-wrk] [--keep]` (`make bench` runs the full one).

The phases, in order: warm-up; for 16 then 64 clients the raw INSERT anchor,
ingest with no worker running, then 1 then 2 burst workers processing the
backlog and RQ's no-op anchor; the naive app; reads and hello-world; replay
and the sequential read; with 2 workers running, latency at half the max
ingest and keep-up at the max; last, commands at the max rate until the
memory figure's count or the time budget is reached.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

from tests.bench.context import FULL, QUICK, REPO, Bench, log
from tests.bench.ingest import event_state_bytes, measure_ingest, measure_naive, warm_up
from tests.bench.loadgen import LoadGenerator
from tests.bench.memory import RssSampler, api_memory_rows, drive_commands, worker_memory_row
from tests.bench.processing import measure_processing
from tests.bench.reads import measure_reads
from tests.bench.replay import measure_replay
from tests.bench.report import Row, Run, render, write
from tests.bench.stack import Stack
from tests.bench.steady import measure_keep_up, measure_latency

STEADY_WORKERS = 2
_ORDER = ("ingest: create-order", "processing", "latency", "replay", "reads", "memory")


def _row_order(row: Row) -> tuple[int, int]:
    group = next((i for i, prefix in enumerate(_ORDER) if row.figure.startswith(prefix)), len(_ORDER))
    return group, 1 if row.anchor.startswith("naive") else 0


def measure(bench: Bench) -> list[str]:
    """Every phase in order; a phase that fails is reported and the run goes on. Returns the failures."""
    stack, plan = bench.stack, bench.plan
    failures: list[str] = []

    def phase(name: str, fn, *args):  # noqa: ANN001, ANN002, ANN202
        try:
            return fn(*args)
        except Exception as error:  # one broken phase must not cost the other figures
            log(f"{name} FAILED: {error!r}")
            failures.append(name)
            bench.run.notes.append(f"**{name} failed** in this run: {str(error).strip().splitlines()[-1][:300]}")
            return None

    stack.start_api()
    log(f"API up at {stack.api_url}")
    sampler = RssSampler(bench).start()
    try:
        warm_up(bench)
        state_bytes = event_state_bytes(bench)
        ingest = {}
        for workers, concurrency in enumerate(plan.concurrencies, start=1):
            log(f"ingest at {concurrency} clients, with its raw INSERT anchor")
            result = phase(f"ingest at {concurrency} clients", measure_ingest, bench, concurrency, state_bytes)
            if result is not None:
                ingest[concurrency] = result
            phase(f"processing with {workers} worker(s)", measure_processing, bench, workers)
        if not ingest:
            raise RuntimeError("no ingest figure: the later phases depend on it")
        log("naive app")
        phase("naive app", measure_naive, bench, ingest)
        log("reads and hello-world")
        phase("reads", measure_reads, bench, *bench.read_tenant)
        log("replay and sequential read")
        phase("replay", measure_replay, bench)

        log(f"starting {STEADY_WORKERS} workers (RQ + sweeper) for latency and keep-up")
        stack.start_workers(STEADY_WORKERS)
        stack.wait_for_worker_listening()
        phase("latency", measure_latency, bench, STEADY_WORKERS)
        with stack.connect() as conn:
            warm, processed_before = sampler.sample(conn), _versions(conn)
        phase("keep-up", measure_keep_up, bench, STEADY_WORKERS)
        with stack.connect() as conn:
            end, processed_after = sampler.sample(conn), _versions(conn)
        worker_memory_row(bench, warm, end, processed_after - processed_before)
        stack.stop_workers()

        reached = phase("memory", drive_commands, bench, sampler, plan.memory_commands)
        if reached:
            api_memory_rows(bench, sampler, plan.memory_commands, reached)
    finally:
        sampler.stop()
    return failures


def _versions(conn) -> int:  # noqa: ANN001
    return conn.execute("SELECT count(*) FROM order_version").fetchone()[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small counts, about a minute (a smoke test)")
    parser.add_argument("--output", type=Path, default=None,
                        help="where to write the table (default: BENCHMARKS.md for a full run; a quick run only prints)")
    parser.add_argument("--no-wrk", action="store_true", help="use the asyncio client even where wrk is installed")
    parser.add_argument("--keep", action="store_true", help="keep the run's folder (server data and logs)")
    parser.add_argument("--prototypes", action="store_true",
                        help="instead of the table: phase-2 designs against today's, in-process (own block of the file)")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="instead of the table: py-spy profiles of the API ingesting and a worker processing "
                             "(run under `uv run --frozen --with py-spy`)")
    args = parser.parse_args(argv)

    plan = QUICK if args.quick else FULL
    output = args.output or (None if args.quick else REPO / "BENCHMARKS.md")
    root = Path(tempfile.mkdtemp(prefix="orderledger-bench-"))
    load = LoadGenerator(root, prefer_wrk=not args.no_wrk)
    run = Run(command=" ".join(["python -m tests.bench", *(argv if argv is not None else sys.argv[1:])]),
              mode=plan.name, load_generator="none (in-process)" if args.prototypes else load.describe())
    log(f"{plan.name} run in {root}; HTTP load: {run.load_generator}")
    started = time.monotonic()
    stack = Stack.start(root)
    log(f"PostgreSQL {stack.servers[0].url}, Valkey {stack.servers[1].url}, migrated")
    bench = Bench(stack=stack, load=load, plan=plan, run=run)
    failures: list[str] = []
    if args.profile:
        from tests.bench.profile import profile

        try:
            profile(bench, args.profile.resolve())
        finally:
            stack.close()
            shutil.rmtree(root, ignore_errors=True)
        return 0
    try:
        if args.prototypes:
            from tests.bench.prototypes import run_prototypes

            run_prototypes(bench)
        else:
            failures = measure(bench)
    except BaseException:
        print(render(run), flush=True)  # what was measured before the failure
        raise
    finally:
        stack.close()
        run.seconds = time.monotonic() - started
        if args.keep:
            log(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    run.rows.sort(key=_row_order)
    print(render(run), flush=True)
    if output is not None:
        write(output, run, "prototypes" if args.prototypes else "table")
        log(f"wrote {output}")
    if failures:
        log(f"failed phases: {', '.join(failures)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
