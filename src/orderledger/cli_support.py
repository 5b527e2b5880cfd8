"""What every `orderledger` subcommand needs: settings with the servers it uses, and tenants by name."""

from __future__ import annotations

from uuid import UUID

import click
import psycopg

from orderledger.settings import Settings


def settings_for(*, redis: bool = True) -> Settings:
    """Settings from the environment, refusing clearly when a server URL the command needs is missing."""
    settings = Settings.from_env()
    needed = [("ORDERLEDGER_DATABASE_URL", settings.database_url)]
    if redis:
        needed.append(("ORDERLEDGER_REDIS_URL", settings.redis_url))
    missing = [name for name, value in needed if not value]
    if missing:
        raise click.UsageError(
            f"set {' and '.join(missing)} (or use `orderledger run`, which starts embedded servers)"
        )
    return settings


def tenant_id(conn: psycopg.Connection, name: str) -> UUID:
    row = conn.execute("SELECT tenant_id FROM tenant WHERE name = %s", (name,)).fetchone()
    if row is None:
        raise click.ClickException(f"no tenant named {name!r}")
    return row[0]
