"""A Registered event stored by the first release (v1 shape, no sealing) reads through today's code."""

from __future__ import annotations

import psycopg
import pytest

from orderledger.domain.ids import order_aggregate_id
from orderledger.infrastructure.event_reads import EVENTS_TABLE
from projections.order_view.updater import project_order
from tests.conftest import unique
from tests.integration.helpers import Api
from tests.integration.history_helpers import tenant_of

pytestmark = pytest.mark.integration


def first_release_row(tenant_id: str, order_id: str) -> bytes:
    """Byte for byte what the first release wrote: no class_version, no received_via, personal data in clear."""
    return (
        '{"timestamp":{"_type_":"datetime_iso","_data_":"2026-11-01T10:00:00+00:00"},'
        '"originator_topic":"orderledger.order.Order",'
        f'"tenant_id":"{tenant_id}",'
        '"caused_by":{"command":"RegisterOrder","requestId":"r-1","apiKey":"olk_abcd"},'
        f'"order_id":"{order_id}",'
        '"document":{"contact":{"matchKey":"old@example.com"},"currency":"SEK",'
        '"items":[{"sku":"A","quantity":1,"grossPaidPrice":{"_type_":"decimal_str","_data_":"10.00"}}]}}'
    ).encode()


async def test_a_first_release_event_is_read_upcast_by_the_repository_the_projection_and_the_api(
    client, api_key, settings, worker_context
):
    api = Api(client, api_key)
    tenant_id = tenant_of(settings, api_key)
    order_id = unique("old")
    aggregate_id = order_aggregate_id(str(tenant_id), order_id)
    with psycopg.connect(settings.database_url) as conn:
        conn.execute(f"INSERT INTO {EVENTS_TABLE} (originator_id, originator_version, topic, state) VALUES (%s, 1, %s, %s)",
                     (aggregate_id, "orderledger.order.Registered", first_release_row(str(tenant_id), order_id)))

    order = worker_context.ledger.repository.get(aggregate_id)
    assert order.received_via == "api" and order.document["contact"]["matchKey"] == "old@example.com"

    with worker_context.pool.connection() as conn:
        assert project_order(conn, worker_context.ledger, worker_context.keyring, aggregate_id) == 1
    view = await api.get_json(f"/orders/{order_id}")
    assert view["version"] == 1 and str(view["items"][0]["grossPaidPrice"]) == "10.00"
    events = await api.get_json(f"/orders/{order_id}/events")
    assert events["events"][0]["payload"]["receivedVia"] == "api"
    # And the order takes commands: its next events are stored in today's shape.
    await api.accepted("POST", f"/orders/{order_id}/change-status", {"status": "Paid"})
    assert worker_context.ledger.repository.get(aggregate_id).version == 2
