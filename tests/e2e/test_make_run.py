"""`orderledger run` (what `make run` calls): two readable lines, a working stack, a clean Ctrl-C, data kept."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from orderledger.infrastructure.embedded import free_port
from tests.e2e.helpers import wait_for_job, wait_until

pytestmark = pytest.mark.e2e


def start_run(data_dir: Path, port: int) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERLEDGER_")}
    env.update(ORDERLEDGER_DATA_DIR=str(data_dir), ORDERLEDGER_PORT=str(port), ORDERLEDGER_LOG_LEVEL="WARNING")
    # Its own process group, so the test can send Ctrl-C the way a terminal does: to the whole group.
    return subprocess.Popen([sys.executable, "-m", "orderledger", "run"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def read_banner(process: subprocess.Popen, timeout: float = 90.0) -> tuple[str, str, list[str]]:
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    url = key = None
    while time.monotonic() < deadline and not (url and key):
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if match := re.fullmatch(r"orderledger is up at (http://127\.0\.0\.1:\d+)\n", line):
            url = match.group(1)
        if match := re.fullmatch(r"API key: (\S+)\n", line):
            key = match.group(1)
    assert url and key, "".join(lines)
    return url, key, lines


def ctrl_c(process: subprocess.Popen) -> list[int]:
    """Send SIGINT to the group as a terminal would; returns the pids of everything it had started."""
    descendants = [child.pid for child in psutil.Process(process.pid).children(recursive=True)]
    os.killpg(process.pid, signal.SIGINT)
    process.wait(60)
    return descendants


def test_run_prints_url_and_key_serves_orders_stops_cleanly_and_keeps_data(tmp_path):
    port = free_port()
    started = time.monotonic()
    first = start_run(tmp_path / "data", port)
    try:
        url, key, _ = read_banner(first)
        print(f"`orderledger run` ready in {time.monotonic() - started:.1f}s")
        assert url == f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=url, timeout=10) as client:
            created = client.post("/api/v3/orders", json={"orderId": "RUN-1", "items": [{"sku": "A"}]},
                                  headers={"apikey": key})
            assert created.status_code == 202
            assert wait_for_job(client, created.json()["jobId"], key)["versionTag"]
    finally:
        children = ctrl_c(first)
    assert first.returncode == 0
    assert len(children) >= 4  # postgres, valkey, api, worker (and postgres's own children)
    leftovers = [pid for pid in children if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]
    assert leftovers == [], f"still running after Ctrl-C: {leftovers}"

    second = start_run(tmp_path / "data", port)
    try:
        url, key_again, _ = read_banner(second)
        assert key_again == key
        with httpx.Client(base_url=url, timeout=10) as client:
            kept = wait_until(lambda: client.get("/api/v3/orders/RUN-1", headers={"apikey": key}).status_code == 200,
                              10, "the order from the first run")
            assert kept
    finally:
        ctrl_c(second)
    assert second.returncode == 0
