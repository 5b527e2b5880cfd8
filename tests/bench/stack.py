"""The system under test: embedded PostgreSQL and Valkey in a temporary folder, migrated, with real
`orderledger serve` and `orderledger worker` processes started and stopped as the phases need them.

Never the machine's own PostgreSQL or Redis: the harness owns every server it
measures, so nobody else's tests share them.
"""

from __future__ import annotations

import secrets
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from uuid import UUID

import psycopg
from redis import Redis

from orderledger.infrastructure.database import ensure_database
from orderledger.infrastructure.embedded import EmbeddedServer, free_port, start_postgres, start_valkey
from orderledger.infrastructure.migrations import migrate
from orderledger.settings import Settings
from orderledger.tenancy import create_key
from tests.e2e.helpers import service_env, start, stop, wait_for_api, wait_until

DATABASE_NAME = "orderledger_bench"


def rss_bytes(pid: int) -> int | None:
    """Resident set size of a live process, from /proc."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


@dataclass
class Stack:
    root: Path
    settings: Settings
    server_url: str
    servers: list[EmbeddedServer]
    api: subprocess.Popen | None = None
    api_url: str = ""
    workers: list[subprocess.Popen] = field(default_factory=list)
    _logs: int = 0

    @classmethod
    def start(cls, root: Path) -> Stack:
        servers = [start_postgres(root / "pg")]
        try:
            # Durable like `make run`: append-only file, fsync every second.
            servers.append(start_valkey(root / "valkey", persist=True))
            server_url = servers[0].url
            settings = Settings(database_url=ensure_database(server_url, DATABASE_NAME), redis_url=servers[1].url,
                                tag_secrets=f"1:{secrets.token_urlsafe(24)}", data_dir=root / "data")
            migrate(settings)
        except BaseException:
            for server in reversed(servers):
                server.stop()
            raise
        return cls(root=root, settings=settings, server_url=server_url, servers=servers)

    def new_tenant(self, name: str) -> tuple[UUID, str]:
        """A fresh tenant and its API key: each phase counts its own orders by tenant."""
        with psycopg.connect(self.settings.database_url) as conn:
            tenant, key = create_key(conn, f"{name}-{secrets.token_hex(4)}")
        return tenant.tenant_id, key

    def _log(self, name: str) -> Path:
        self._logs += 1
        return self.root / f"{self._logs:02d}-{name}.log"

    def start_api(self) -> None:
        port = free_port()
        log = self._log("api")
        self.api = start(["serve", "--port", str(port)], service_env(self.settings), log)
        self.api_url = f"http://127.0.0.1:{port}"
        try:
            wait_for_api(self.api_url, self.api, timeout=60)
        except AssertionError as error:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
            raise RuntimeError(f"{error}; last lines of its log:\n{tail}") from None

    def start_workers(self, count: int, *, burst: bool = False) -> list[subprocess.Popen]:
        """`orderledger worker` processes: burst ones exit when the queue is empty; others also sweep."""
        started = [start(["worker", *(["--burst"] if burst else [])], service_env(self.settings),
                         self._log("worker-burst" if burst else "worker")) for _ in range(count)]
        self.workers.extend(started)
        return started

    def wait_for_workers(self, workers: list[subprocess.Popen], timeout: float) -> None:
        """Wait for burst workers to exit (the queue is empty)."""
        wait_until(lambda: all(w.poll() is not None for w in workers), timeout, "burst workers to empty the queue",
                   interval=0.1)
        for worker in workers:
            self.workers.remove(worker)

    def wait_for_worker_listening(self, timeout: float = 60.0) -> None:
        """Until every running worker has registered with RQ (it then takes jobs at once)."""
        redis = self.redis()
        try:
            wait_until(lambda: redis.scard("rq:workers") >= len(self.workers), timeout, "workers to register")
        finally:
            redis.close()

    def stop_workers(self) -> None:
        for worker in self.workers:
            stop(worker)
        self.workers.clear()

    def redis(self) -> Redis:
        return Redis.from_url(self.settings.redis_url)

    def connect(self) -> psycopg.Connection:
        return psycopg.connect(self.settings.database_url, autocommit=True)

    def close(self) -> None:
        self.stop_workers()
        if self.api is not None:
            stop(self.api)
            self.api = None
        for server in reversed(self.servers):
            server.stop()
