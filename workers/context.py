"""What jobs use, built once per worker process (the worker half of the composition root).

RQ calls job functions by dotted name with primitive arguments, so a job finds
its connections here. The worker entry point installs a context from its
settings; tests install their own. A job in a process that installed none
builds one from the environment.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from psycopg_pool import ConnectionPool

from orderledger.application import OrderLedger
from orderledger.domain.version_tag import TagKeyring
from orderledger.settings import Settings


@dataclass
class WorkerContext:
    settings: Settings
    ledger: OrderLedger
    pool: ConnectionPool
    keyring: TagKeyring

    @classmethod
    def open(cls, settings: Settings) -> WorkerContext:
        pool = ConnectionPool(settings.database_url, min_size=1, max_size=4, open=True)
        return cls(settings, OrderLedger(env=settings.eventsourcing_env()), pool, settings.keyring())

    def close(self) -> None:
        self.ledger.close()
        self.pool.close()


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
