"""Projection lag: how many events, and how many seconds, a projection is behind the event store.

The order view's sweeper keeps a position below which every event is processed
(or recorded as failed); above it, an event is behind when its order's view is
at an older version. Seconds behind = now - the time of the oldest such event.
One parameterless statement, so the CLI (psycopg) and the API (asyncpg) share it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from orderledger.infrastructure.event_reads import EVENTS_TABLE

PROJECTION = "order_view"

LAG_SQL = f"""
WITH behind AS (
    SELECT e.notification_id, e.state
    FROM {EVENTS_TABLE} e LEFT JOIN order_view v ON v.aggregate_id = e.originator_id
    WHERE e.notification_id > coalesce((SELECT notification_id FROM sweeper_position WHERE name = '{PROJECTION}'), 0)
      AND e.originator_version > coalesce(v.version, 0)
)
SELECT (SELECT coalesce(max(notification_id), 0) FROM {EVENTS_TABLE}) AS head,
       count(*) AS events_behind,
       min(notification_id) AS oldest_behind,
       min((convert_from(state, 'UTF8')::jsonb -> 'timestamp' ->> '_data_')::timestamptz) AS oldest_at,
       now() AS now
FROM behind
"""


@dataclass(frozen=True, slots=True)
class ProjectionLag:
    projection: str
    head: int  # the store's last notification id
    position: int  # every event up to here is processed
    events_behind: int
    seconds_behind: float

    @classmethod
    def from_row(cls, head: int, events_behind: int, oldest_behind: int | None, oldest_at: datetime | None,
                 now: datetime) -> ProjectionLag:
        seconds = max(0.0, (now - oldest_at).total_seconds()) if oldest_at is not None else 0.0
        position = head if oldest_behind is None else oldest_behind - 1
        return cls(PROJECTION, head, position, events_behind, seconds)


def prometheus_text(lags: list[ProjectionLag]) -> str:
    """The lag in Prometheus' text exposition format."""
    lines = [
        "# HELP orderledger_event_store_head The event store's last notification id.",
        "# TYPE orderledger_event_store_head gauge",
        *(f"orderledger_event_store_head {lag.head}" for lag in lags[:1]),
        "# HELP orderledger_projection_lag_events Events committed to the store that the projection has not processed.",
        "# TYPE orderledger_projection_lag_events gauge",
        *(f'orderledger_projection_lag_events{{projection="{lag.projection}"}} {lag.events_behind}' for lag in lags),
        "# HELP orderledger_projection_lag_seconds Age of the oldest event the projection has not processed.",
        "# TYPE orderledger_projection_lag_seconds gauge",
        *(f'orderledger_projection_lag_seconds{{projection="{lag.projection}"}} {lag.seconds_behind:.3f}' for lag in lags),
    ]
    return "\n".join(lines) + "\n"
