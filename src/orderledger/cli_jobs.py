"""`orderledger jobs failed|retry` and `orderledger sweep`: operating the asynchronous half."""

from __future__ import annotations

import time

import click

from orderledger.cli_support import settings_for as _settings




@click.group()
def jobs() -> None:
    """Inspect and retry jobs that failed for good."""


@jobs.command("failed")
@click.option("--tenant", default=None, help="Only this tenant's jobs (by name).")
def jobs_failed(tenant: str | None) -> None:
    """List failed jobs that no processing has resolved since: jobId, orderId, attempts, error, failedAt."""
    import psycopg

    from workers.failures import unresolved_failures

    settings = _settings(redis=False)
    with psycopg.connect(settings.database_url) as conn:
        failures = unresolved_failures(conn, tenant=tenant)
    if not failures:
        click.echo("no failed jobs", err=True)
        return
    click.echo("jobId\torderId\tattempts\terror\tfailedAt")
    for failure in failures:
        click.echo(f"{failure.job_id}\t{failure.order_id}\t{failure.attempts}\t{failure.summary}\t"
                   f"{failure.failed_at.isoformat()}")


@jobs.command("retry")
@click.argument("job_id", required=False)
@click.option("--all", "retry_all", is_flag=True, help="Retry every failed job (of --tenant, if given).")
@click.option("--tenant", default=None, help="With --all: only this tenant's jobs (by name).")
def jobs_retry(job_id: str | None, retry_all: bool, tenant: str | None) -> None:
    """Enqueue failed jobs again, with fresh retries. Each is marked resolved once processed."""
    import psycopg
    from redis import Redis
    from rq.exceptions import NoSuchJobError
    from rq.job import Job

    from orderledger.domain.ids import parse_job_id
    from orderledger.infrastructure.queue import enqueue_projection, order_queue
    from workers.failures import unresolved_failures

    if bool(job_id) == retry_all:
        raise click.UsageError("name one JOB_ID or pass --all")
    job = parse_job_id(job_id) if job_id else None
    if job_id and job is None:
        raise click.UsageError(f"{job_id!r} is not a job id")
    settings = _settings()
    with psycopg.connect(settings.database_url) as conn:
        failures = unresolved_failures(conn, tenant=tenant, job=job)
    if job_id and not failures:
        raise click.ClickException(f"job {job_id} has not failed (or has been processed since)")
    redis = Redis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=5)
    queue = order_queue(redis, settings.queue_name)
    try:
        for failure in failures:
            # RQ's record of the failed run (in its failed registry) would shadow the new one.
            try:
                Job.fetch(failure.job_id, connection=redis, serializer=queue.serializer).delete()
            except NoSuchJobError:
                pass
            if not enqueue_projection(queue, failure.tenant_id, failure.aggregate_id, failure.version):
                raise click.ClickException("Redis is unavailable; nothing more was enqueued")
            click.echo(f"re-enqueued {failure.job_id}")
    finally:
        redis.close()
    click.echo(f"{len(failures)} job(s) re-enqueued", err=True)


@click.command()
@click.option("--once", is_flag=True, help="One pass up to the log's current head, then exit.")
def sweep(once: bool) -> None:
    """Process every committed but unprocessed order version (workers also do this, every few seconds)."""
    import threading

    from redis import Redis

    from orderledger.application import OrderLedger
    from workers.sweeper import Sweeper, run_sweeper

    settings = _settings(redis=False)
    ledger = OrderLedger(env=settings.eventsourcing_env())
    # Redis is optional here: it only tells whether RQ still retries a failing order.
    redis = Redis.from_url(settings.redis_url, socket_timeout=2, socket_connect_timeout=2) if settings.redis_url else None
    sweeper = Sweeper(settings.database_url, ledger, settings.keyring(), redis, queue_name=settings.queue_name)
    try:
        if not once:
            run_sweeper(sweeper, settings.sweep_interval, threading.Event())
            return
        started = time.monotonic()
        report = sweeper.sweep(settle=False)
        if not report.swept:
            raise click.ClickException("another sweeper is running; it will do this")
        click.echo(f"swept to notification {report.position}: {report.orders} lagging orders, "
                   f"{report.versions} versions processed, {report.failed} failed "
                   f"({time.monotonic() - started:.2f}s)")
    finally:
        sweeper.close()
        ledger.close()
        if redis is not None:
            redis.close()
