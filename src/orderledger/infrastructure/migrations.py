"""`orderledger migrate`: create or update every table. Idempotent, safe to run concurrently."""

from __future__ import annotations

import psycopg

from orderledger.application import OrderLedger
from orderledger.settings import Settings
from orderledger.api.idempotency import DDL as IDEMPOTENCY_DDL
from orderledger.automation.schema import DDL as AUTOMATION_DDL
from orderledger.history.schema import migrate_history
from orderledger.tenancy import DDL as TENANCY_DDL
from orderledger.tenant_configs import DDL as TENANT_CONFIG_DDL
from projections.order_view.schema import DDL as ORDER_VIEW_DDL
from workers.schema import DDL as WORKERS_DDL

# Two migrate processes starting at once (compose restarts, several replicas) take turns.
_MIGRATION_LOCK = 0x6F72646572  # "order"


def migrate(settings: Settings) -> None:
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_MIGRATION_LOCK,))
        try:
            # The event store's own tables, made by the library that owns their shape.
            ledger = OrderLedger(env={**settings.eventsourcing_env(), "CREATE_TABLE": "y"})
            ledger.close()
            with conn.transaction():
                conn.execute(TENANCY_DDL)
                conn.execute(ORDER_VIEW_DDL)
                conn.execute(TENANT_CONFIG_DDL)
                conn.execute(IDEMPOTENCY_DDL)
                conn.execute(WORKERS_DDL)
                conn.execute(AUTOMATION_DDL)
                migrate_history(conn)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_MIGRATION_LOCK,))
