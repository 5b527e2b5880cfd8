"""Reads: GET /api/v3/orders/{id} requests/s beside a hello-world endpoint of the same app and server.

The hello-world is the real app's `GET /health` (no auth, a constant body,
through the same middleware and exception handling), so the ratio is what
reading an order costs over the framework's floor.
"""

from __future__ import annotations

from uuid import UUID

from tests.bench.context import Bench
from tests.bench.report import Row

ORDERS_TO_READ = 2000


def measure_reads(bench: Bench, tenant: UUID, key: str) -> None:
    with bench.stack.connect() as conn:
        order_ids = [row[0] for row in conn.execute(
            "SELECT order_id FROM order_view WHERE tenant_id = %s LIMIT %s", (tenant, ORDERS_TO_READ)).fetchall()]
    if not order_ids:
        raise RuntimeError("no processed orders to read")
    concurrency, seconds = bench.plan.read_concurrency, bench.plan.read_seconds
    hello = bench.load.get_paths(bench.stack.api_url, None, ["/health"], concurrency, seconds)
    reads = bench.load.get_paths(bench.stack.api_url, key, [f"/api/v3/orders/{i}" for i in order_ids],
                                 concurrency, seconds)
    bench.add(Row(
        f"reads: GET /orders/{{id}}, {concurrency} clients", reads.rate(200), "req/s",
        f"hello-world: GET /health of the same app and server, {concurrency} clients", hello.rate(200), "req/s",
        target=("%", 0.5),
        note=(f"{len(order_ids):,} orders read at random, {reads.others(200)} non-200; p50 {reads.p50_ms:.1f} / p99 "
              f"{reads.p99_ms:.1f} ms (hello p50 {hello.p50_ms:.1f} / p99 {hello.p99_ms:.1f} ms)"),
    ))
