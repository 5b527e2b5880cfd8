"""Real `orderledger` processes for fault tests: started, killed, restarted, always cleaned up."""

from __future__ import annotations

import os
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from orderledger.infrastructure.embedded import free_port
from orderledger.settings import Settings
from tests.e2e.helpers import service_env, start, stop, wait_for_api, wait_until


@dataclass
class Stack:
    settings: Settings
    logs: Path
    env: dict[str, str] = field(default_factory=dict)
    processes: list[subprocess.Popen] = field(default_factory=list)

    def api(self, **env: str) -> tuple[str, subprocess.Popen]:
        """Start an API process; returns its base URL, once it answers, and the process."""
        port = free_port()
        process = self._start(["serve", "--port", str(port)], f"api-{port}", env)
        base_url = f"http://127.0.0.1:{port}"
        wait_for_api(base_url, process)
        return base_url, process

    def worker(self, **env: str) -> subprocess.Popen:
        return self._start(["worker"], f"worker-{len(self.processes)}", env)

    def kill(self, process: subprocess.Popen) -> None:
        """kill -9 the process and its children (a worker's RQ scheduler), as a crash or the OOM killer would."""
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)

    def stop_all(self) -> dict[int, int]:
        """SIGTERM every process still running; returns their exit codes by pid."""
        return {p.pid: stop(p) for p in self.processes if p.poll() is None}

    def log_text(self) -> str:
        return "\n".join(f"--- {path.name}\n{path.read_text()[-4000:]}" for path in sorted(self.logs.glob("*.log")))

    def _start(self, args: list[str], name: str, env: dict[str, str]) -> subprocess.Popen:
        process = start(args, service_env(self.settings, **{**self.env, **env}), self.logs / f"{name}.log")
        self.processes.append(process)
        return process


def sweeper_holder(settings: Settings) -> int | None:
    """The pid of the process whose sweeper holds the sweep lock in this database, if any."""
    with psycopg.connect(settings.database_url) as conn:
        row = conn.execute(
            """
            SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
            WHERE l.locktype = 'advisory' AND l.granted AND l.database = (
                SELECT oid FROM pg_database WHERE datname = current_database())
              AND a.application_name LIKE 'orderledger-sweeper order_view pid=%'
            """
        ).fetchone()
    return int(row[0].rsplit("=", 1)[1]) if row else None


def wait_for_sweeper(settings: Settings, pid: int, timeout: float = 20.0) -> None:
    wait_until(lambda: sweeper_holder(settings) == pid, timeout, f"process {pid} to hold the sweep lock", 0.05)
