"""With `orderledger worker` processes running (RQ jobs and the sweeper, as deployed):
latency from 202 to a visible VersionTag at half the max ingest, and whether processing keeps up with
ingest at its max."""

from __future__ import annotations

import json
import secrets
import threading
import time
from uuid import UUID

from tests.bench.context import Bench, log, waiting_work
from tests.bench.latency import percentiles
from tests.bench.report import Row
from tests.e2e.helpers import wait_until

PROBES_PER_SECOND = 20
WARM_UP_SECONDS = 2


def _processed(bench: Bench, tenant: UUID) -> int:
    with bench.stack.connect() as conn:
        return conn.execute("SELECT count(*) FROM order_version WHERE tenant_id = %s", (tenant,)).fetchone()[0]


def measure_latency(bench: Bench, workers: int) -> None:
    rate = max(bench.ingest_rates.values()) / 2
    # Freshly started workers first warm up (connections, caches, the first contact key of a tenant):
    # the figure is the steady path, so a short run at the same rate goes first and is not counted.
    _, warm_key = bench.stack.new_tenant("latency-warm-up")
    bench.run_module("tests.bench.latency", bench.stack.api_url, warm_key, f"lw-{secrets.token_hex(3)}",
                     f"{rate:.3f}", str(WARM_UP_SECONDS), "1000000", str(bench.plan.poll_ms),
                     timeout=WARM_UP_SECONDS + 120)
    tenant, key = bench.stack.new_tenant("latency")
    probe_every = max(1, round(rate / PROBES_PER_SECOND))
    log(f"latency at {rate:.0f} cmd/s (half of max ingest), every {probe_every}th command polled "
        f"every {bench.plan.poll_ms:g} ms")
    result = json.loads(bench.run_module(
        "tests.bench.latency", bench.stack.api_url, key, f"l-{secrets.token_hex(3)}", f"{rate:.3f}",
        str(bench.plan.latency_seconds), str(probe_every), str(bench.plan.poll_ms),
        timeout=bench.plan.latency_seconds + 180))
    accepted = result["statuses"].get("202", 0)
    try:
        wait_until(lambda: _processed(bench, tenant) >= accepted, 60, "the latency phase's versions to be processed",
                   interval=0.2)
    except AssertionError as error:
        log(f"  {error}")
    with bench.stack.connect() as conn:
        lags = [row[0] for row in conn.execute(
            "SELECT extract(epoch FROM processed_at - recorded_at) FROM order_version WHERE tenant_id = %s",
            (tenant,)).fetchall()]
    server_side = percentiles([float(lag) for lag in lags])
    visible = result["visible_ms"]
    how = (f"open loop at {result['accepted_rate']:.0f} cmd/s achieved ({accepted:,} × 202, others "
           f"{ {k: v for k, v in result['statuses'].items() if k != '202'} or 0}, schedule lag max "
           f"{result['schedule_lag_ms']:.0f} ms), {workers} workers; {result['probes']} probes polled every "
           f"{bench.plan.poll_ms:g} ms ({result['gave_up']} gave up); cross-check over all {len(lags):,} versions, "
           f"event timestamp → order_version.processed_at: p50 {server_side['p50']:.0f} / p95 "
           f"{server_side['p95']:.0f} / p99 {server_side['p99']:.0f} ms; POST p50 {result['post_ms']['p50']:.0f} / "
           f"p99 {result['post_ms']['p99']:.0f} ms")
    for name in ("p50", "p95"):
        bench.add(Row(f"latency: 202 → VersionTag visible in job status, {name}", visible[name], "ms"))
    bench.add(Row("latency: 202 → VersionTag visible in job status, p99", visible["p99"], "ms",
                  target=("<", 50), note=how))


class QueueSampler:
    """The work waiting for the workers (pending orders + RQ jobs) every half second, in a thread, while a load runs."""

    def __init__(self, bench: Bench) -> None:
        self.bench, self.samples = bench, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        redis = self.bench.stack.redis()
        try:
            while not self._stop.is_set():
                self.samples.append((time.monotonic(), waiting_work(redis, self.bench.stack.settings.queue_name)))
                self._stop.wait(0.5)
        finally:
            redis.close()

    def __enter__(self) -> QueueSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def slope(self) -> float:
        """Least-squares growth of the waiting work, per second."""
        if len(self.samples) < 2:
            return 0.0
        n = len(self.samples)
        mean_t = sum(t for t, _ in self.samples) / n
        mean_q = sum(q for _, q in self.samples) / n
        var = sum((t - mean_t) ** 2 for t, _ in self.samples)
        return sum((t - mean_t) * (q - mean_q) for t, q in self.samples) / var if var else 0.0


def measure_keep_up(bench: Bench, workers: int) -> None:
    concurrency = bench.best_concurrency()
    tenant, key = bench.stack.new_tenant("keepup")
    with QueueSampler(bench) as queue:
        result = bench.load.post_orders(bench.stack.api_url, key, f"k-{secrets.token_hex(3)}", concurrency,
                                        bench.plan.keep_up_seconds)
    processed = _processed(bench, tenant)
    accepted = result.statuses.get(202, 0)
    bench.add(Row(
        f"processing keeps up: versions processed while ingest runs at max ({concurrency} clients), {workers} workers",
        processed / result.seconds, "versions/s", "ingest in the same window", result.rate(202), "cmd/s",
        target=("%", 0.98),
        note=(f"{accepted:,} accepted, {processed:,} processed by the end, backlog {accepted - processed:,}; "
              f"waiting orders + RQ jobs {queue.samples[0][1] if queue.samples else 0:,} → "
              f"{queue.samples[-1][1] if queue.samples else 0:,} ({queue.slope():+.0f}/s)"),
    ))
