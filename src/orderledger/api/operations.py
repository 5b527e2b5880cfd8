"""Operations: `/metrics` in Prometheus' text format (projection lag), for scrapers; no API key, like /health."""

from __future__ import annotations

from litestar import Request, Response, get

from orderledger.api.services import ApiServices
from orderledger.history.lag import LAG_SQL, ProjectionLag, prometheus_text

PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


@get("/metrics", operation_id="Metrics", tags=["operations"], media_type=PROMETHEUS_TEXT)
async def metrics(request: Request) -> Response[str]:
    """Per projection: `orderledger_projection_lag_events` and `orderledger_projection_lag_seconds` (gauges),
    and `orderledger_event_store_head`; for this API process, `orderledger_group_commits_total` and
    `orderledger_group_committed_commands_total` (counters: their ratio is the mean batch of group commit).
    Service-wide, so it names no tenant and needs no key."""
    services: ApiServices = request.app.state.services
    row = await services.pool.fetchrow(LAG_SQL)
    lag = ProjectionLag.from_row(row["head"], row["events_behind"], row["oldest_behind"], row["oldest_at"], row["now"])
    return Response(prometheus_text([lag]) + _group_commit_text(services), media_type=PROMETHEUS_TEXT)


def _group_commit_text(services: ApiServices) -> str:
    batches, commands = services.ledger.group_commit_counts()
    return "\n".join([
        "# HELP orderledger_group_commits_total Event-store transactions made by this process's group commit.",
        "# TYPE orderledger_group_commits_total counter",
        f"orderledger_group_commits_total {batches}",
        "# HELP orderledger_group_committed_commands_total Commands whose events those transactions stored.",
        "# TYPE orderledger_group_committed_commands_total counter",
        f"orderledger_group_committed_commands_total {commands}",
    ]) + "\n"
