"""What jobs use, built once per worker process (the worker half of the composition root).

RQ calls job functions by dotted name with primitive arguments, so a job finds
its connections here. The worker entry point installs a context from its
settings; tests install their own. A job in a process that installed none
builds one from the environment.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from psycopg_pool import ConnectionPool

from orderledger.application import OrderLedger
from orderledger.domain.version_tag import TagKeyring
from orderledger.settings import Settings

# Test-only: with fault injection on, each projection job holds its transaction
# open this long before committing, so a test can kill a worker in mid-job.
FAULT_SLOW_PROJECTION_ENV = "ORDERLEDGER_FAULT_SLOW_PROJECTION_MS"


@dataclass
class WorkerContext:
    settings: Settings
    ledger: OrderLedger
    pool: ConnectionPool
    keyring: TagKeyring
    slow_projection_seconds: float = 0.0

    @classmethod
    def open(cls, settings: Settings, env: Mapping[str, str] | None = None) -> WorkerContext:
        # Named in pg_stat_activity, so an operator (and the fault tests) can tell which worker holds what.
        pool = ConnectionPool(settings.database_url, min_size=1, max_size=4, open=True,
                              kwargs={"application_name": worker_application_name()})
        return cls(settings, OrderLedger(env=settings.eventsourcing_env()), pool, settings.keyring(),
                   slow_projection_seconds=slow_projection_seconds(settings, os.environ if env is None else env))

    def close(self) -> None:
        self.ledger.close()
        self.pool.close()


def worker_application_name(pid: int | None = None) -> str:
    return f"orderledger-worker pid={os.getpid() if pid is None else pid}"


def slow_projection_seconds(settings: Settings, env: Mapping[str, str]) -> float:
    if not settings.fault_injection:
        return 0.0
    return int(env.get(FAULT_SLOW_PROJECTION_ENV) or 0) / 1000


_lock = threading.Lock()
_current: WorkerContext | None = None


def install(context: WorkerContext | None) -> None:
    global _current
    with _lock:
        _current = context


def current() -> WorkerContext:
    global _current
    with _lock:
        if _current is None:
            _current = WorkerContext.open(Settings.from_env())
        return _current
