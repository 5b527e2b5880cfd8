"""Command accepted -> VersionTag visible in job status, under an open-loop load at a fixed rate.

`python -m tests.bench.latency URL KEY PREFIX RATE SECONDS PROBE_EVERY POLL_MS`
sends create-order commands on a fixed schedule (open loop: a slow answer
does not slow the schedule down, as with real integrators), and for every
PROBE_EVERY-th command polls its job status every POLL_MS until it carries a
versionTag, timing from the 202 to the first answer that shows the tag.
Prints `BENCH {json}`.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from tests.bench.loadgen import ORDER_BODY_TEMPLATE
from tests.bench.rawhttp import Connection

GIVE_UP_SECONDS = 60.0


def percentiles(values: list[float]) -> dict[str, float]:
    """p50/p95/p99/max in milliseconds (nearest rank)."""
    if not values:
        return {"p50": 0.0, "p95": 0.0, "p99": 0.0, "max": 0.0}
    ordered = sorted(values)

    def rank(p: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, int(round(p / 100 * len(ordered))) - 1))] * 1000

    return {"p50": rank(50), "p95": rank(95), "p99": rank(99), "max": ordered[-1] * 1000}


class Pool:
    """Keep-alive connections for an open loop: a request takes an idle one or opens a new one."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port, self.idle = host, port, []

    async def request(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201
        while self.idle:
            conn = self.idle.pop()
            try:
                answer = await conn.request(*args, **kwargs)
            except (asyncio.IncompleteReadError, ConnectionError):
                # The server closed it while it sat idle (uvicorn's keep-alive timeout): it never saw the request.
                continue
            self.idle.append(conn)
            return answer
        conn = Connection(self.host, self.port)
        answer = await conn.request(*args, **kwargs)
        self.idle.append(conn)
        return answer


async def run(url: str, key: str, prefix: str, rate: float, seconds: float, probe_every: int, poll_ms: float) -> dict:
    host, port = url.removeprefix("http://").split(":")
    pool = Pool(host, int(port))
    post_headers = {"apikey": key, "Content-Type": "application/json"}
    statuses: dict[int, int] = {}
    accept_times: list[float] = []
    visible: list[float] = []
    gave_up = [0]
    lag = [0.0]

    async def probe(job: str, accepted_at: float) -> None:
        deadline = accepted_at + GIVE_UP_SECONDS
        while time.perf_counter() < deadline:
            await asyncio.sleep(poll_ms / 1000)
            answer = await pool.request("GET", f"/api/v3/orders/jobs/{job}", {"apikey": key})
            if answer.status == 200 and json.loads(answer.body).get("versionTag"):
                visible.append(time.perf_counter() - accepted_at)
                return
        gave_up[0] += 1

    async def send(i: int) -> None:
        body = (ORDER_BODY_TEMPLATE % f"{prefix}-{i}").encode()
        sent = time.perf_counter()
        answer = await pool.request("POST", "/api/v3/orders", post_headers, body)
        accepted_at = time.perf_counter()
        statuses[answer.status] = statuses.get(answer.status, 0) + 1
        if answer.status == 202:
            accept_times.append(accepted_at - sent)
            if i % probe_every == 0:
                await probe(json.loads(answer.body)["jobId"], accepted_at)

    tasks = []
    total = int(rate * seconds)
    started = time.perf_counter()
    for i in range(total):
        due = started + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            lag[0] = max(lag[0], -delay)
        tasks.append(asyncio.create_task(send(i)))
    sending = time.perf_counter() - started
    await asyncio.gather(*tasks)
    return {
        "sent": total, "seconds": sending, "statuses": statuses, "accepted_rate": statuses.get(202, 0) / sending,
        "schedule_lag_ms": lag[0] * 1000, "post_ms": percentiles(accept_times),
        "visible_ms": percentiles(visible), "probes": len(visible), "gave_up": gave_up[0],
    }


if __name__ == "__main__":
    url, key, prefix, rate, seconds, probe_every, poll_ms = sys.argv[1:8]
    result = asyncio.run(run(url, key, prefix, float(rate), float(seconds), int(probe_every), float(poll_ms)))
    print("BENCH " + json.dumps(result), flush=True)
