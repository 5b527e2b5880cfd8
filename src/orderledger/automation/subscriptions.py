"""Webhook subscriptions: where a tenant wants its actions and order changes sent, and the secret to sign them.

The same statements serve the admin API (asyncpg) and the CLI (psycopg).
A removed subscription is kept (its deliveries and their log refer to it) but
receives nothing more; its pending deliveries die at their next try.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID, uuid4

import msgspec
import psycopg

from orderledger.domain.model import ActionName, Wire

SECRET_PREFIX = "whsec_"
ALL_ACTIONS = "*"

OrderEvent = Literal["order.created", "order.updated", "order.status_changed", "order.deleted"]


class SubscriptionIn(Wire):
    """POST /admin/webhooks: where to send, which actions (`*` for all) and which order changes."""

    url: Annotated[str, msgspec.Meta(min_length=1, max_length=2048)]
    actions: list[ActionName] = []
    events: list[OrderEvent] = []
    # Chosen by us when omitted (and then shown once, in the answer to this request).
    secret: Annotated[str, msgspec.Meta(min_length=16, max_length=200)] | None = None
    description: Annotated[str, msgspec.Meta(max_length=500)] | None = None


class SubscriptionOut(msgspec.Struct, rename="camel"):
    subscription_id: UUID
    url: str
    actions: list[str]
    events: list[str]
    description: str | None
    secret_hint: str
    created_at: datetime
    secret: str | None = None  # only in the answer that created it


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def secret_hint(secret: str) -> str:
    return secret[:10] + "..."


INSERT = """
INSERT INTO webhook_subscription (subscription_id, tenant_id, url, secret, actions, events, description)
VALUES ($1, $2, $3, $4, $5::text[], $6::text[], $7)
RETURNING subscription_id, url, actions, events, description, secret, created_at
"""

LIST = """
SELECT subscription_id, url, actions, events, description, secret, created_at FROM webhook_subscription
WHERE tenant_id = $1 AND removed_at IS NULL ORDER BY created_at, subscription_id
"""

GET = """
SELECT subscription_id, url, actions, events, description, secret, created_at FROM webhook_subscription
WHERE tenant_id = $1 AND subscription_id = $2 AND removed_at IS NULL
"""

REMOVE = """
UPDATE webhook_subscription SET removed_at = now()
WHERE tenant_id = $1 AND subscription_id = $2 AND removed_at IS NULL
RETURNING subscription_id
"""


def insert_params(tenant_id: UUID, wanted: SubscriptionIn, secret: str) -> list[Any]:
    return [uuid4(), tenant_id, wanted.url, secret, sorted(set(wanted.actions)), sorted(set(wanted.events)),
            wanted.description]


def to_out(row: Any, *, reveal_secret: bool = False) -> SubscriptionOut:
    """A subscription as shown: the secret only at creation, otherwise a hint of it."""
    subscription_id, url, actions, events, description, secret, created_at = tuple(row)
    return SubscriptionOut(subscription_id, url, list(actions), list(events), description, secret_hint(secret),
                           created_at, secret if reveal_secret else None)


# -- the CLI's side (psycopg) -------------------------------------------------


def add(conn: psycopg.Connection, tenant_id: UUID, wanted: SubscriptionIn, secret: str) -> SubscriptionOut:
    with conn.transaction():
        row = psycopg.RawCursor(conn).execute(INSERT, insert_params(tenant_id, wanted, secret)).fetchone()
    return to_out(row, reveal_secret=True)


def listed(conn: psycopg.Connection, tenant_id: UUID) -> list[SubscriptionOut]:
    return [to_out(row) for row in psycopg.RawCursor(conn).execute(LIST, [tenant_id]).fetchall()]


def remove(conn: psycopg.Connection, tenant_id: UUID, subscription_id: UUID) -> bool:
    with conn.transaction():
        return psycopg.RawCursor(conn).execute(REMOVE, [tenant_id, subscription_id]).fetchone() is not None
