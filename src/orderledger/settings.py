"""Settings: read from the environment once, at the edge, then passed in."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import unquote, urlsplit

from orderledger.domain.delivery_policy import DEFAULT_RETRY_DELAYS
from orderledger.domain.version_tag import TagKeyring

DEFAULT_QUEUE = "orderledger"


@dataclass(frozen=True)
class Settings:
    database_url: str
    redis_url: str
    # "key_id:secret" pairs, the first one signs; e.g. "2:new-secret,1:old-secret" during a rotation.
    tag_secrets: str = "1:orderledger-development-secret-change-me"
    host: str = "127.0.0.1"
    port: int = 8000
    queue_name: str = DEFAULT_QUEUE
    data_dir: Path = field(default_factory=lambda: Path(".data"))
    # Only tests turn this on: it lets a request ask the API to die between commit and enqueue.
    fault_injection: bool = False
    # How often each worker's sweeper looks for committed but unprocessed versions, in seconds.
    sweep_interval: float = 2.0
    # Orders per projection transaction of a worker (a bulk batch); more waiting brings in another worker.
    projection_batch: int = 256
    # Webhooks: plain http and loopback/private/link-local targets are refused unless this is on
    # (local development and tests only).
    webhook_allow_private: bool = False
    # Each phase of a webhook call (connect, send, each read) gives up after this many seconds.
    webhook_timeout: float = 10.0
    # Pauses between tries of a failing webhook delivery; dead after one try more than pauses.
    webhook_retry_delays: tuple[float, ...] = DEFAULT_RETRY_DELAYS

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: object) -> Settings:
        env = dict(os.environ if env is None else env)
        settings = cls(
            database_url=env.get("ORDERLEDGER_DATABASE_URL", ""),
            redis_url=env.get("ORDERLEDGER_REDIS_URL", ""),
            tag_secrets=env.get("ORDERLEDGER_TAG_SECRETS", cls.tag_secrets),
            host=env.get("ORDERLEDGER_HOST", cls.host),
            port=int(env.get("ORDERLEDGER_PORT", cls.port)),
            queue_name=env.get("ORDERLEDGER_QUEUE", cls.queue_name),
            data_dir=Path(env.get("ORDERLEDGER_DATA_DIR", ".data")),
            fault_injection=env.get("ORDERLEDGER_FAULT_INJECTION", "") == "1",
            sweep_interval=float(env.get("ORDERLEDGER_SWEEP_INTERVAL", cls.sweep_interval)),
            projection_batch=max(1, int(env.get("ORDERLEDGER_PROJECTION_BATCH", cls.projection_batch))),
            webhook_allow_private=env.get("ORDERLEDGER_WEBHOOK_ALLOW_PRIVATE", "") == "1",
            webhook_timeout=float(env.get("ORDERLEDGER_WEBHOOK_TIMEOUT", cls.webhook_timeout)),
            webhook_retry_delays=_seconds_list(env.get("ORDERLEDGER_WEBHOOK_RETRY_DELAYS")) or cls.webhook_retry_delays,
        )
        return replace(settings, **overrides)  # type: ignore[arg-type]

    def keyring(self) -> TagKeyring:
        secrets: dict[int, bytes] = {}
        current = None
        for pair in self.tag_secrets.split(","):
            key_id, _, secret = pair.strip().partition(":")
            if not secret:
                raise ValueError("ORDERLEDGER_TAG_SECRETS must be 'id:secret[,id:secret...]'")
            secrets[int(key_id)] = secret.encode()
            current = int(key_id) if current is None else current
        assert current is not None
        return TagKeyring(secrets=secrets, current=current)

    def eventsourcing_env(self) -> dict[str, str]:
        """The eventsourcing library's PostgreSQL settings, derived from our one URL."""
        parts = urlsplit(self.database_url)
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": unquote(parts.path.lstrip("/")) or "postgres",
            "POSTGRES_HOST": parts.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(parts.port or 5432),
            "POSTGRES_USER": unquote(parts.username or "postgres"),
            "POSTGRES_PASSWORD": unquote(parts.password or ""),
            "POSTGRES_POOL_SIZE": "8",
            "POSTGRES_MAX_OVERFLOW": "8",
            # The store's tables are made by `orderledger migrate`, not as a side effect of starting.
            "CREATE_TABLE": "n",
        }


def _seconds_list(value: str | None) -> tuple[float, ...]:
    """"1,4,16" -> (1.0, 4.0, 16.0); empty or missing -> ()."""
    return tuple(float(part) for part in (value or "").split(",") if part.strip())
