"""The `orderledger` command: serve, worker, migrate, keys, run."""

from __future__ import annotations

import logging
import os
import sys

import click

from orderledger.cli_support import settings_for, tenant_id as _tenant_id
from orderledger.settings import Settings


def _settings(**overrides: object) -> Settings:
    return Settings.from_env(**overrides)


@click.group()
@click.option("--log-level", default=lambda: os.environ.get("ORDERLEDGER_LOG_LEVEL", "INFO"), show_default="INFO")
def main(log_level: str) -> None:
    """orderledger: an event-sourced order ledger with asynchronous job processing."""
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Client libraries log every request at INFO; that is noise in a service's log.
    logging.getLogger("httpx").setLevel(logging.WARNING)


@main.command()
@click.option("--host", default=None, help="Bind address (ORDERLEDGER_HOST, default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (ORDERLEDGER_PORT, default 8000).")
@click.option("--workers", type=int, default=1, show_default=True, help="API processes.")
def serve(host: str | None, port: int | None, workers: int) -> None:
    """Run the HTTP API."""
    import uvicorn

    settings = settings_for()
    uvicorn.run(
        "orderledger.api.asgi:build", factory=True, host=host or settings.host, port=port or settings.port,
        workers=workers, log_level="warning", access_log=False,
    )


@main.command()
@click.option("--burst", is_flag=True, help="Exit when the queue is empty.")
def worker(burst: bool) -> None:
    """Run an RQ worker that processes order jobs."""
    from workers.worker import run_worker

    settings = settings_for()
    run_worker(settings, burst=burst)


@main.command()
def migrate() -> None:
    """Create or update every table (idempotent)."""
    from orderledger.infrastructure.migrations import migrate as run_migrations

    settings = settings_for(redis=False)
    run_migrations(settings)
    click.echo("migrated")


@main.group()
def keys() -> None:
    """Manage API keys."""


@keys.command("create")
@click.option("--tenant", required=True, help="Tenant name; created if new.")
def keys_create(tenant: str) -> None:
    """Create an API key for a tenant and print it (shown only this once)."""
    import psycopg

    from orderledger.tenancy import create_key

    settings = settings_for(redis=False)
    with psycopg.connect(settings.database_url) as conn:
        found, key = create_key(conn, tenant)
    click.echo(f"tenant {found.name} ({found.tenant_id})", err=True)
    click.echo(key)


@keys.command("revoke")
@click.argument("key")
def keys_revoke(key: str) -> None:
    """Revoke an API key (it stops working within 30 seconds)."""
    import psycopg

    from orderledger.tenancy import revoke_key

    settings = settings_for(redis=False)
    with psycopg.connect(settings.database_url) as conn:
        if not revoke_key(conn, key):
            raise click.ClickException("no such active key")
    click.echo("revoked")


@main.group()
def config() -> None:
    """Show or change a tenant's validation configuration."""




@config.command("show")
@click.option("--tenant", required=True)
def config_show(tenant: str) -> None:
    """Print the tenant's configuration as JSON."""
    import psycopg

    from orderledger.domain.tenant_config import config_to_builtins
    from orderledger.jsoncodec import dumps_text
    from orderledger.tenant_configs import load_config

    settings = settings_for(redis=False)
    with psycopg.connect(settings.database_url) as conn:
        click.echo(dumps_text(config_to_builtins(load_config(conn, _tenant_id(conn, tenant)))))


@config.command("set")
@click.option("--tenant", required=True)
@click.argument("file", type=click.File("rb"))
def config_set(tenant: str, file) -> None:  # noqa: ANN001
    """Replace the tenant's configuration with the JSON in FILE (`-` for standard input)."""
    import msgspec
    import psycopg

    from orderledger.domain.tenant_config import config_from_json, validate_config
    from orderledger.tenant_configs import save_config

    settings = settings_for(redis=False)
    try:
        new = config_from_json(file.read())
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        raise click.ClickException(f"not a valid configuration: {error}") from None
    if violations := validate_config(new):
        raise click.ClickException("; ".join(f"{v.pointer}: {v.detail}" for v in violations))
    with psycopg.connect(settings.database_url) as conn:
        save_config(conn, _tenant_id(conn, tenant), new)
    click.echo("saved (API processes see it within 5 seconds)")


@main.command()
def run() -> None:
    """Start everything for a first look: servers, migrations, a dev key, the API and a worker."""
    from orderledger.devstack import run as run_stack

    sys.exit(run_stack(_settings(), port_chosen="ORDERLEDGER_PORT" in os.environ))


from orderledger.cli_jobs import jobs, sweep  # noqa: E402  (defined apart; they import nothing from here)

main.add_command(jobs)
main.add_command(sweep)

from orderledger.cli_webhooks import deliveries, webhooks  # noqa: E402

main.add_command(webhooks)
main.add_command(deliveries)

from orderledger.cli_history import erase_contact, export, replay, status  # noqa: E402

for command in (export, replay, status, erase_contact):
    main.add_command(command)
