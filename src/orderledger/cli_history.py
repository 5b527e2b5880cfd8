"""`orderledger export | replay | status | erase-contact`: the analysts' and operators' history commands."""

from __future__ import annotations

import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from uuid import UUID

import click
import psycopg

from orderledger.cli_support import settings_for, tenant_id
from orderledger.settings import Settings


def _tenant_id(database_url: str, name: str) -> UUID:
    with psycopg.connect(database_url) as conn:
        return tenant_id(conn, name)


def _ledger(settings: Settings):  # noqa: ANN202
    from orderledger.application import OrderLedger

    return OrderLedger(env=settings.eventsourcing_env())


def _moment(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 date-time", param_hint="--since") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


@click.command()
@click.option("--tenant", required=True, help="Tenant name.")
@click.option("--what", type=click.Choice(["events", "orders"]), default="events", show_default=True,
              help="Every event (from the event store) or every order view (from the read model).")
@click.option("--format", "fmt", type=click.Choice(["ndjson", "csv", "parquet"]), default="ndjson", show_default=True)
@click.option("--since", default=None, help="Only events recorded (orders changed) at or after this ISO 8601 time.")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="File to write (- for stdout).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def export(tenant: str, what: str, fmt: str, since: str | None, out: Path, quiet: bool) -> None:
    """Export a tenant's events or order views, with a progress bar and a final count."""
    import psycopg

    from orderledger.history.export import ExportError, ExportRequest, count_rows, export as run_export
    from orderledger.history.progress import meter

    settings = settings_for(redis=False)
    request = ExportRequest(_tenant_id(settings.database_url, tenant), what, fmt, _moment(since))
    ledger = _ledger(settings)
    started = time.perf_counter()
    try:
        with meter(f"export {what}", what, enabled=not quiet) as progress:
            with psycopg.connect(settings.database_url) as conn:
                progress.total(count_rows(conn, request))
            if str(out) == "-":
                rows = run_export(settings.database_url, ledger, request, sys.stdout.buffer, progress.advance)
            else:
                with out.open("wb") as file:
                    rows = run_export(settings.database_url, ledger, request, file, progress.advance)
    except ExportError as error:
        if str(out) != "-":
            out.unlink(missing_ok=True)
        raise click.ClickException(str(error)) from None
    finally:
        ledger.close()
    seconds = time.perf_counter() - started
    click.echo(f"exported {rows} {what} to {out} in {seconds:.1f}s ({rows / seconds:,.0f} {what}/s)", err=True)


@click.command()
@click.option("--projection", default="order_view", show_default=True, help="The read model to rebuild.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def replay(projection: str, quiet: bool) -> None:
    """Rebuild a read model from the event store into fresh tables, then switch over atomically.

    The API keeps serving the old tables meanwhile; no webhook or action fires again.
    """
    from orderledger.history.progress import meter
    from projections.replay import PROJECTIONS, RebuildBusy, replay as run_replay

    if projection not in PROJECTIONS:
        raise click.BadParameter(f"one of {', '.join(PROJECTIONS)}", param_hint="--projection")
    settings = settings_for(redis=False)
    ledger = _ledger(settings)
    try:
        with meter(f"replay {projection}", "events", enabled=not quiet) as progress:
            report = run_replay(settings.database_url, ledger, settings.keyring(), projection,
                                on_total=progress.total, on_progress=progress.advance)
    except RebuildBusy as error:
        raise click.ClickException(str(error)) from None
    finally:
        ledger.close()
    click.echo(f"rebuilt {projection}: {report.events} events of {report.orders} orders in {report.seconds:.1f}s "
               f"({report.events_per_second:,.0f} events/s); {report.caught_up} orders caught up; "
               f"switched over at notification {report.position} (writers paused {report.switch_seconds * 1000:.0f} ms)",
               err=True)


@click.command()
def status() -> None:
    """Per projection: the store's head, the projection's position, and how far behind it is."""
    import psycopg

    from orderledger.history.lag import LAG_SQL, ProjectionLag

    settings = settings_for(redis=False)
    with psycopg.connect(settings.database_url) as conn:
        lag = ProjectionLag.from_row(*conn.execute(LAG_SQL).fetchone())
    click.echo("projection\thead\tposition\tevents_behind\tseconds_behind")
    click.echo(f"{lag.projection}\t{lag.head}\t{lag.position}\t{lag.events_behind}\t{lag.seconds_behind:.1f}")


@click.command("erase-contact")
@click.option("--tenant", required=True, help="Tenant name.")
@click.option("--contact", "match_key", required=True, help="The contact's matchKey, exactly as sent.")
def erase_contact(tenant: str, match_key: str) -> None:
    """Erase a contact's personal data everywhere (crypto-shredding); order facts stay. Cannot be undone."""
    from orderledger.history.erasure import erase_contact as run_erasure

    settings = settings_for(redis=False)
    tenant_id = _tenant_id(settings.database_url, tenant)
    ledger = _ledger(settings)
    try:
        report = run_erasure(settings.database_url, ledger, tenant_id, match_key)
    finally:
        ledger.close()
    if not report.keys:
        click.echo("nothing to erase: no personal data of this contact is stored (or it was erased before)", err=True)
        return
    click.echo(f"erased: destroyed {report.keys} key(s), rewrote {report.orders} order view(s)", err=True)
