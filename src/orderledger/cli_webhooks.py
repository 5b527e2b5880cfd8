"""`orderledger webhooks add|list|remove` and `orderledger deliveries dead|redeliver`."""

from __future__ import annotations

from uuid import UUID

import click

from orderledger.cli_support import settings_for, tenant_id as _tenant_id






@click.group()
def webhooks() -> None:
    """Manage a tenant's webhook subscriptions."""


@webhooks.command("add")
@click.option("--tenant", required=True, help="Tenant name.")
@click.option("--url", required=True, help="Where to POST deliveries (https, public address).")
@click.option("--action", "actions", multiple=True, help="An action name to receive (repeatable; * for all).")
@click.option("--event", "events", multiple=True,
              type=click.Choice(["order.created", "order.updated", "order.status_changed", "order.deleted"]),
              help="An order change to receive (repeatable).")
@click.option("--secret", default=None, help="Signing secret (at least 16 characters); one is made if omitted.")
@click.option("--description", default=None)
def webhooks_add(tenant: str, url: str, actions: tuple[str, ...], events: tuple[str, ...], secret: str | None,
                 description: str | None) -> None:
    """Subscribe URL to actions and/or order changes; prints the subscription id and its secret (once)."""
    import msgspec
    import psycopg

    from orderledger.automation.subscriptions import SubscriptionIn, add, new_secret
    from orderledger.automation.target_policy import TargetRefused, resolve_target

    settings = settings_for(redis=False)
    if not actions and not events:
        raise click.UsageError("name at least one --action or --event")
    try:
        wanted = msgspec.convert({"url": url, "actions": list(actions), "events": list(events), "secret": secret,
                                  "description": description}, SubscriptionIn)
        resolve_target(wanted.url, settings.webhook_allow_private)
    except msgspec.ValidationError as error:
        raise click.ClickException(str(error)) from None
    except TargetRefused as refused:
        raise click.ClickException(f"we do not call this URL: {refused.detail}") from None
    with psycopg.connect(settings.database_url) as conn:
        created = add(conn, _tenant_id(conn, tenant), wanted, wanted.secret or new_secret())
    click.echo(f"subscription {created.subscription_id}", err=True)
    click.echo(f"secret {created.secret}")


@webhooks.command("list")
@click.option("--tenant", required=True, help="Tenant name.")
def webhooks_list(tenant: str) -> None:
    """The tenant's active subscriptions: id, URL, actions, events."""
    import psycopg

    from orderledger.automation.subscriptions import listed

    settings = settings_for(redis=False)
    with psycopg.connect(settings.database_url) as conn:
        found = listed(conn, _tenant_id(conn, tenant))
    if not found:
        click.echo("no webhooks", err=True)
        return
    click.echo("subscriptionId\turl\tactions\tevents")
    for sub in found:
        click.echo(f"{sub.subscription_id}\t{sub.url}\t{','.join(sub.actions) or '-'}\t{','.join(sub.events) or '-'}")


@webhooks.command("remove")
@click.argument("subscription_id", type=click.UUID)
@click.option("--tenant", required=True, help="Tenant name.")
def webhooks_remove(subscription_id: UUID, tenant: str) -> None:
    """Stop a subscription (its pending deliveries die at their next try)."""
    import psycopg

    from orderledger.automation.subscriptions import remove

    settings = settings_for(redis=False)
    with psycopg.connect(settings.database_url) as conn:
        if not remove(conn, _tenant_id(conn, tenant), subscription_id):
            raise click.ClickException("no such active subscription in this tenant")
    click.echo("removed")


@click.group()
def deliveries() -> None:
    """Inspect dead webhook deliveries and send them again."""


@deliveries.command("dead")
@click.option("--tenant", default=None, help="Only this tenant's (by name).")
def deliveries_dead(tenant: str | None) -> None:
    """Dead-lettered deliveries: deliveryId, tenant, orderId, event, tries, last error, deadAt."""
    import psycopg

    from orderledger.automation.delivery_log import dead_deliveries

    settings = settings_for(redis=False)
    with psycopg.connect(settings.database_url) as conn:
        rows = dead_deliveries(conn, tenant)
    if not rows:
        click.echo("no dead deliveries", err=True)
        return
    click.echo("deliveryId\ttenant\torderId\tevent\ttries\tlastError\tdeadAt")
    for delivery_id, name, order_id, kind, attempts, error, dead_at in rows:
        click.echo(f"{delivery_id}\t{name}\t{order_id}\t{kind}\t{attempts}\t{error}\t{dead_at.isoformat() if dead_at else '-'}")


@deliveries.command("redeliver")
@click.argument("delivery_id", type=click.UUID)
def deliveries_redeliver(delivery_id: UUID) -> None:
    """Send a dead delivery again: same id and body, a fresh round of tries."""
    import psycopg
    from redis import Redis

    from orderledger.automation.delivery_log import DeliveryNotDead, DeliveryNotFound, redeliver
    from orderledger.automation.dispatch import enqueue_delivery, webhook_queue

    settings = settings_for(redis=True)
    try:
        with psycopg.connect(settings.database_url) as conn:
            attempt = redeliver(conn, delivery_id)
    except DeliveryNotFound:
        raise click.ClickException(f"no delivery {delivery_id}") from None
    except DeliveryNotDead as error:
        raise click.ClickException(str(error)) from None
    redis = Redis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=5)
    try:
        queued = enqueue_delivery(webhook_queue(redis, settings.queue_name), delivery_id, attempt)
    finally:
        redis.close()
    click.echo("redelivering" if queued else "pending again; Redis is away, a worker's delivery sweep will send it")
