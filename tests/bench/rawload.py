"""Closed-loop HTTP load without wrk: `python -m tests.bench.rawload post|get URL CONCURRENCY SECONDS ARGS...`.

The same arguments and the same `BENCH {json}` output line as the wrk scripts
in lua/, so the harness cannot tell them apart except by speed.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Callable
from urllib.parse import urlsplit

from tests.bench.rawhttp import Connection


async def _client(host: str, port: int, make: Callable[[], tuple[str, str, dict[str, str], bytes]], deadline: float,
                  statuses: Counter, latencies: list[float], errors: list[int]) -> None:
    connection = Connection(host, port)
    while time.monotonic() < deadline:
        method, path, headers, body = make()
        started = time.perf_counter()
        try:
            answer = await connection.request(method, path, headers, body)
        except (OSError, asyncio.IncompleteReadError):
            errors[0] += 1
            continue
        latencies.append(time.perf_counter() - started)
        statuses[answer.status] += 1
    await connection.close()


async def run(mode: str, url: str, concurrency: int, seconds: float, args: list[str]) -> dict:
    parts = urlsplit(url)
    key = args[0] if args[0] != "-" else None
    headers = {"apikey": key} if key else {}
    if mode == "post":
        prefix, path, template = args[1], args[2], args[3]
        counter = iter(range(1, 1 << 62))
        post_headers = {**headers, "Content-Type": "application/json"}

        def make() -> tuple[str, str, dict[str, str], bytes]:
            return "POST", path, post_headers, (template % f"{prefix}-1-{next(counter)}").encode()
    else:
        paths = [line for line in open(args[1]).read().splitlines() if line]

        def make() -> tuple[str, str, dict[str, str], bytes]:
            return "GET", random.choice(paths), headers, b""

    statuses: Counter = Counter()
    latencies: list[float] = []
    errors = [0]
    started = time.monotonic()
    deadline = started + seconds
    await asyncio.gather(*(_client(parts.hostname, parts.port, make, deadline, statuses, latencies, errors)
                           for _ in range(concurrency)))
    elapsed = time.monotonic() - started
    latencies.sort()

    def percentile(p: float) -> int:
        return int(latencies[min(len(latencies) - 1, int(len(latencies) * p / 100))] * 1e6) if latencies else 0

    return {"duration_us": int(elapsed * 1e6), "requests": len(latencies), "errors": errors[0],
            "p50_us": percentile(50), "p95_us": percentile(95), "p99_us": percentile(99),
            "statuses": {str(k): v for k, v in statuses.items()}}


def main(argv: list[str]) -> None:
    mode, url, concurrency, seconds, *args = argv
    result = asyncio.run(run(mode, url, int(concurrency), float(seconds), args))
    print("BENCH " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
