"""`--profile DIR`: py-spy on the API while it ingests and on a worker while it processes a backlog.

py-spy is not a dependency: run `uv run --frozen --with py-spy python -m tests.bench --profile DIR`
(it does not touch the lock file). Each profile is written as collapsed stacks
(`*.txt`, for flamegraph tools or speedscope) and summarised: the share of
samples in which each function is on the stack (inclusive) and on top (self).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

from tests.bench.context import Bench, log

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^:()]*)(?::\d+)?\)$")


def py_spy() -> str:
    found = shutil.which("py-spy")
    if found is None:
        raise SystemExit("py-spy is not on PATH: run `uv run --frozen --with py-spy python -m tests.bench --profile DIR`")
    return found


def record(pid: int, seconds: float, out: Path, *, idle: bool) -> subprocess.Popen:
    """Sample `pid` for `seconds` at 250 Hz into collapsed stacks, without pausing it (--nonblocking)."""
    argv = [py_spy(), "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", "250",
            "--format", "raw", "--output", str(out), "--nonblocking", "--threads"]
    if idle:
        argv.append("--idle")
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _short(frame: str) -> str:
    match = _FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    path = match["file"]
    for marker in ("site-packages/", "/src/", "/work/main/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{match['func']} ({path})"


def _stacks(collapsed: Path) -> list[tuple[list[str], int]]:
    stacks = []
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            frames = [_short(f) for f in stack.split(";") if not f.startswith(("thread (", "process "))]
            stacks.append((frames, int(count)))
    return stacks


def summarise(collapsed: Path, root: str | None = None, top: int = 40) -> str:
    """Inclusive and self shares per function, as a text table.

    With `root`, only the samples whose stack passes through a function named
    `root`, as shares of those: with --idle profiles, where the wall time of
    one request or job goes (waiting included).
    """
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for frames, n in _stacks(collapsed):
        if root is not None:
            at = next((i for i, f in enumerate(frames) if f.startswith(root + " ")), None)
            if at is None:
                continue
            frames = frames[at:]
        total += n
        for frame in set(frames):
            inclusive[frame] += n
        if frames:
            own[frames[-1]] += n
    title = f"{collapsed.name}{f' (within {root})' if root else ''}: {total:,} samples"
    if not total:
        return f"{title}: none"
    lines = [title, "", "inclusive  self  function"]
    for frame, n in inclusive.most_common(top):
        lines.append(f"{n / total * 100:8.1f}% {own[frame] / total * 100:5.1f}%  {frame}")
    lines += ["", "top self:"]
    for frame, n in own.most_common(top // 2):
        lines.append(f"{n / total * 100:8.1f}%  {frame}")
    return "\n".join(lines)


# Where one request's or one job's wall time goes: the frame every sample of it passes through.
# For the --idle profiles (wall time) and for the fold, which runs in the harness's own process.
ROOTS = {"api-ingest-64-idle": "run_command.<locals>.commit_and_enqueue", "worker-processing-idle": "BaseWorker.work",
         "replay": "replay"}


def profile(bench: Bench, out_dir: Path) -> None:
    """py-spy on: the API ingesting at 64 clients; one burst worker on that backlog; the API serving
    GET /orders/{id}; this process rebuilding order_view with `orderledger replay`'s code."""
    import os
    import time

    from tests.bench.ingest import warm_up
    from tests.bench.replay import fold_all_streams, rebuild_with_replay

    out_dir.mkdir(parents=True, exist_ok=True)
    stack, seconds = bench.stack, max(bench.plan.ingest_seconds, 10)
    stack.start_api()
    warm_up(bench)
    concurrency = max(bench.plan.concurrencies)
    _, key = stack.new_tenant("profile")
    for idle in (False, True):
        name = f"api-ingest-{concurrency}{'-idle' if idle else ''}.txt"
        spy = record(stack.api.pid, seconds, out_dir / name, idle=idle)
        result = bench.load.post_orders(stack.api_url, key, f"p{int(idle)}", concurrency, seconds + 1)
        spy.wait(60)
        log(f"profiled the API: {result.rate(202):.0f} cmd/s under py-spy -> {name}")
    for idle in (False, True):
        name = f"worker-processing{'-idle' if idle else ''}.txt"
        stack.start_workers(1, burst=True)
        stack.wait_for_worker_listening()  # past its imports and connections
        spy = record(stack.workers[0].pid, seconds, out_dir / name, idle=idle)
        spy.wait(seconds + 60)
        stack.stop_workers()
        log(f"profiled a worker -> {name}")
    with stack.connect() as conn:
        paths = [f"/api/v3/orders/{row[0]}" for row in conn.execute("SELECT order_id FROM order_view LIMIT 2000")]
    spy = record(stack.api.pid, seconds, out_dir / "api-reads.txt", idle=False)
    result = bench.load.get_paths(stack.api_url, key, paths, bench.plan.read_concurrency, seconds + 1)
    spy.wait(60)
    log(f"profiled the API: {result.rate(200):.0f} reads/s under py-spy -> api-reads.txt")
    spy = record(os.getpid(), seconds, out_dir / "replay.txt", idle=False)
    deadline, rounds = time.monotonic() + seconds, 0
    while time.monotonic() < deadline:
        if rebuild_with_replay(stack.settings) is None:  # before `orderledger replay` existed
            fold_all_streams(stack.settings)
        rounds += 1
    spy.wait(60)
    log(f"profiled the replay ({rounds} rounds) -> replay.txt")
    summaries = []
    for path in sorted(out_dir.glob("*.txt")):
        summaries.append(summarise(path))
        if path.stem in ROOTS:
            summaries.append(summarise(path, ROOTS[path.stem]))
    (out_dir / "summary.md").write_text("\n\n".join(f"```\n{s}\n```" for s in summaries) + "\n")
    print("\n\n".join(summaries), flush=True)
