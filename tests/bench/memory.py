"""Memory: the RSS of the API (and the workers) against the number of commands it has handled.

A sampler thread records, every second through the whole run, how many
commands the ledger holds (each create is one event, so max(notification_id))
and the RSS of the API and of every running worker. The last phase drives
commands at the max rate until the plan's count is reached or the run's time
budget is spent, and the figure compares the RSS at half of that count with
the RSS at all of it.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass

from tests.bench.context import Bench, log
from tests.bench.report import Row
from tests.bench.stack import rss_bytes

MIB = 1024 * 1024
CHUNK_SECONDS = 20.0


@dataclass(frozen=True)
class Sample:
    at: float
    commands: int
    api_rss: int | None
    workers_rss: dict[int, int]


class RssSampler:
    def __init__(self, bench: Bench, interval: float = 1.0) -> None:
        self.bench, self.interval = bench, interval
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def sample(self, conn) -> Sample:  # noqa: ANN001
        commands = conn.execute("SELECT coalesce(max(notification_id), 0) FROM orderledger_events").fetchone()[0]
        api = self.bench.stack.api
        workers = {w.pid: rss for w in list(self.bench.stack.workers) if (rss := rss_bytes(w.pid)) is not None}
        sample = Sample(time.monotonic(), commands, rss_bytes(api.pid) if api else None, workers)
        self.samples.append(sample)
        return sample

    def _run(self) -> None:
        with self.bench.stack.connect() as conn:
            while not self._stop.wait(self.interval):
                self.sample(conn)

    def start(self) -> RssSampler:
        with self.bench.stack.connect() as conn:
            self.sample(conn)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def at_commands(self, commands: int) -> Sample | None:
        """The first sample taken once the ledger held at least `commands` commands."""
        return next((s for s in self.samples if s.commands >= commands and s.api_rss), None)


def drive_commands(bench: Bench, sampler: RssSampler, target: int) -> int:
    """Create orders at the max rate until the ledger holds `target` commands or the budget is spent."""
    concurrency = bench.best_concurrency()
    _, key = bench.stack.new_tenant("memory")
    chunk = min(CHUNK_SECONDS, bench.plan.budget_seconds / 10)
    with bench.stack.connect() as conn:
        held = sampler.sample(conn).commands
        log(f"memory: {held:,} commands so far; driving to {target:,} at {concurrency} clients "
            f"within {bench.remaining():.0f} s")
        while held < target and bench.remaining() > 3:
            bench.load.post_orders(bench.stack.api_url, key, f"m-{secrets.token_hex(4)}", concurrency,
                                   max(1.0, min(chunk, bench.remaining() - 2)))
            held = sampler.sample(conn).commands
            log(f"  {held:,} commands, API RSS {(sampler.samples[-1].api_rss or 0) / MIB:.0f} MiB")
    return held


def api_memory_rows(bench: Bench, sampler: RssSampler, target: int, reached: int) -> None:
    first = sampler.samples[0]
    half = sampler.at_commands(reached // 2)
    last = sampler.at_commands(reached) or sampler.samples[-1]
    short = "" if reached >= target else (f"; the time budget ended the run at {reached:,} of the {target:,} commands "
                                          "asked for (ingest too slow to fit them in the budget)")
    if half is None or not last.api_rss or not half.api_rss:
        return
    bench.add(Row(
        f"memory: API RSS after {last.commands:,} commands", last.api_rss / MIB, "MiB",
        f"API RSS after {half.commands:,} commands", half.api_rss / MIB, "MiB", target=("growth", 0.10),
        note=f"RSS before the first command {first.api_rss / MIB:.0f} MiB; sampled every second{short}",
    ))


def worker_memory_row(bench: Bench, before: Sample, after: Sample, processed: int) -> None:
    """The first long-lived worker's RSS after its warm-up and at the end of the steady phases."""
    pid = next((p for p in before.workers_rss if p in after.workers_rss), None)
    if pid is None:
        return
    bench.add(Row(
        f"memory: worker RSS after {processed:,} more versions", after.workers_rss[pid] / MIB, "MiB",
        "the same worker's RSS after its warm-up (the latency phase)", before.workers_rss[pid] / MIB, "MiB",
        style="growth",
        note="no target (the targets name the API's commands); over the latency and keep-up phases: the workers are "
             "stopped for the last phase, so that the API's ingest has the machine to reach 200,000 commands",
    ))
