"""Tables and indexes the history features own. Idempotent DDL, applied by `orderledger migrate`."""

from __future__ import annotations

import psycopg

from orderledger.infrastructure.contact_keys import DDL as CONTACT_KEY_DDL, ensure_subject_secret
from orderledger.infrastructure.event_reads import EVENTS_TABLE

# The tenant feed reads one tenant's events in notification order; the events table (the library's)
# has no tenant column, so an expression index over the state's tenant_id serves it. `convert_from` is
# only STABLE, which an index refuses; decoding UTF-8 bytes in a UTF-8 database never changes, so the
# wrapper may say IMMUTABLE truthfully. It costs writers a JSON parse per event (see the README's figures).
FEED_DDL = f"""
CREATE OR REPLACE FUNCTION orderledger_event_tenant(state bytea) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT convert_from(state, 'UTF8')::jsonb ->> 'tenant_id' $$;
CREATE INDEX IF NOT EXISTS {EVENTS_TABLE}_tenant_idx ON {EVENTS_TABLE} (orderledger_event_tenant(state), notification_id);
"""


def migrate_history(conn: psycopg.Connection) -> None:
    """Create the contact key store, its secret and the feed's index (call inside migrate's transaction)."""
    conn.execute(CONTACT_KEY_DDL)
    ensure_subject_secret(conn)
    conn.execute(FEED_DDL)
