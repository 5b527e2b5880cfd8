"""HTTP load: wrk when the machine has it, else the asyncio client in rawload.py; pinned to the last core.

Both run in their own process and print one `BENCH {json}` line (duration,
requests, answers by status, latency percentiles), so the harness reads them
the same way.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

LUA_DIR = Path(__file__).parent / "lua"

# A valid create-order body (totals, taxes and payments add up), as integrators send them; %s is the orderId.
ORDER_BODY_TEMPLATE = (
    '{"orderId":"%s","contact":{"matchKey":"bench@example.com","matchKeyType":"Email"},'
    '"currency":"SEK","status":"New","state":"draft",'
    '"items":[{"sku":"SKU-1","quantity":2,"grossPaidPrice":200.00,"taxPercent":25,"taxAmount":40.00},'
    '{"sku":"SKU-2","quantity":1,"grossPaidPrice":50.00,"taxPercent":25,"taxAmount":10.00}],'
    '"totalGrossPrice":250.00,"totalTax":50.00,"paymentMethods":[{"type":"card","value":250.00}]}'
)


@dataclass(frozen=True)
class LoadResult:
    seconds: float
    requests: int
    statuses: dict[int, int]
    errors: int
    p50_ms: float
    p95_ms: float
    p99_ms: float

    def rate(self, status: int | None = None) -> float:
        """Answers per second, of one status or of all."""
        count = self.requests if status is None else self.statuses.get(status, 0)
        return count / self.seconds if self.seconds else 0.0

    def others(self, status: int) -> int:
        """Answers of any other status, plus socket errors and timeouts."""
        return sum(n for s, n in self.statuses.items() if s != status) + self.errors


def load_core() -> int | None:
    """The core the load generator is pinned to (the last one), or None where pinning is unavailable."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2 or shutil.which("taskset") is None:
        return None
    return cores[-1]


def pinned(argv: list[str]) -> list[str]:
    """`argv` run on the load core, so the server under test keeps the other core(s)."""
    core = load_core()
    return argv if core is None else ["taskset", "-c", str(core), *argv]


class LoadGenerator:
    def __init__(self, work_dir: Path, prefer_wrk: bool = True) -> None:
        self.work_dir = work_dir
        self.wrk = shutil.which("wrk") if prefer_wrk else None
        self._scripts: dict[str, Path] = {}
        self._files = 0

    def describe(self) -> str:
        tool = "wrk (Debian package) with Lua scripts" if self.wrk else "asyncio raw HTTP/1.1 client (tests/bench/rawload.py)"
        core = load_core()
        where = f"pinned to core {core} with taskset" if core is not None else "unpinned (no taskset or a single core)"
        return f"{tool}, one process, {where}"

    def post_orders(self, url: str, key: str | None, prefix: str, concurrency: int, seconds: float,
                    path: str = "/api/v3/orders") -> LoadResult:
        """Create orders with unique orderIds as fast as `concurrency` closed-loop clients allow."""
        args = [key or "-", prefix, path, ORDER_BODY_TEMPLATE]
        if self.wrk:
            return self._run_wrk("post_orders", url, concurrency, seconds, args)
        return self._run_raw(["post", url, str(concurrency), str(seconds), *args])

    def get_paths(self, url: str, key: str | None, paths: list[str], concurrency: int, seconds: float) -> LoadResult:
        """GET paths drawn at random from `paths`."""
        self._files += 1
        paths_file = self.work_dir / f"paths-{self._files}.txt"
        paths_file.write_text("\n".join(paths) + "\n")
        args = [key or "-", str(paths_file)]
        if self.wrk:
            return self._run_wrk("get_paths", url, concurrency, seconds, args)
        return self._run_raw(["get", url, str(concurrency), str(seconds), *args])

    def _script(self, name: str) -> Path:
        if name not in self._scripts:
            path = self.work_dir / f"{name}.lua"
            path.write_text((LUA_DIR / f"{name}.lua").read_text() + "\n" + (LUA_DIR / "report.lua").read_text())
            self._scripts[name] = path
        return self._scripts[name]

    def _run_wrk(self, script: str, url: str, concurrency: int, seconds: float, args: list[str]) -> LoadResult:
        argv = [self.wrk, "-t1", f"-c{concurrency}", f"-d{max(1, round(seconds))}s", "--timeout", "30s",
                "-s", str(self._script(script)), url, "--", *args]
        return _parse(_run(pinned(argv), seconds))

    def _run_raw(self, args: list[str]) -> LoadResult:
        return _parse(_run(pinned([sys.executable, "-m", "tests.bench.rawload", *args]), float(args[3])))


def _run(argv: list[str], seconds: float) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 120, check=False)
    if done.returncode != 0 or "BENCH " not in done.stdout:
        raise RuntimeError(f"load generator failed ({done.returncode}): {' '.join(argv[:6])}...\n"
                           f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return done.stdout


def _parse(output: str) -> LoadResult:
    line = next(line for line in output.splitlines() if line.startswith("BENCH "))
    data = json.loads(line[len("BENCH "):])
    return LoadResult(
        seconds=data["duration_us"] / 1e6,
        requests=data["requests"],
        statuses={int(k): v for k, v in data["statuses"].items()},
        errors=data["errors"],
        p50_ms=data["p50_us"] / 1000,
        p95_ms=data["p95_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
    )
