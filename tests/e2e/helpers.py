"""Helpers for end-to-end tests: real `orderledger` processes driven over HTTP."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import httpx

from orderledger.settings import Settings
from tests.waiting import wait_until

__all__ = ["wait_until"]  # re-exported: e2e tests import it from here

T = TypeVar("T")


def service_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERLEDGER_")}
    env.update(
        ORDERLEDGER_DATABASE_URL=settings.database_url,
        ORDERLEDGER_REDIS_URL=settings.redis_url,
        ORDERLEDGER_TAG_SECRETS=settings.tag_secrets,
        ORDERLEDGER_QUEUE=settings.queue_name,
        ORDERLEDGER_LOG_LEVEL="WARNING",
    )
    env.update(extra)
    return env


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """An `orderledger` command as a child process in its own process group, output to `log`."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "orderledger", *args], env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop(process: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
    if process.poll() is None:
        os.killpg(process.pid, sig)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    return process.returncode


def wait_for_api(base_url: str, process: subprocess.Popen, timeout: float = 30.0) -> None:
    def healthy() -> bool:
        assert process.poll() is None, f"the API exited with {process.returncode}"
        try:
            return httpx.get(f"{base_url}/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(healthy, timeout, f"{base_url}/health")


def wait_for_job(client: httpx.Client, job_id: str, key: str, timeout: float = 20.0) -> dict:
    def finished() -> dict | None:
        status = client.get(f"/api/v3/orders/jobs/{job_id}", headers={"apikey": key}).json()
        return status if status["status"] not in ("Queued", "Processing") else None

    return wait_until(finished, timeout, f"job {job_id} to finish", interval=0.01)
