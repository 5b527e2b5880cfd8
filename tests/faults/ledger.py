"""What fault tests count: the event store against the read model, and commands sent over HTTP."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from uuid import UUID

import httpx
import psycopg

from orderledger.domain.ids import parse_job_id
from orderledger.settings import Settings
from tests.waiting import wait_until


@dataclass(frozen=True)
class Tally:
    """The read model of some orders, checked against their event streams."""

    committed: int  # versions in the event store
    processed: int  # rows in order_version
    duplicates: int  # (order, version) with more than one row
    missing: int  # committed versions without a row
    extra: int  # rows without a committed version
    gaps: int  # orders whose processed versions are not 1..n
    reordered: int  # versions processed before a lower version of their order
    tags: int  # distinct VersionTags
    stale_views: int  # orders whose view is not at their newest version

    @property
    def exact(self) -> bool:
        """Every committed version processed exactly once, in order, each with its own tag."""
        return (self.missing, self.extra, self.duplicates, self.gaps, self.reordered, self.stale_views) == (0,) * 6 \
            and self.processed == self.committed == self.tags


def tally(settings: Settings, orders: Iterable[UUID]) -> Tally:
    ids = list(set(orders))
    with psycopg.connect(settings.database_url) as conn:
        committed = set(conn.execute(
            "SELECT originator_id, originator_version FROM orderledger_events WHERE originator_id = ANY(%s)",
            (ids,)).fetchall())
        rows = conn.execute(
            "SELECT aggregate_id, version, version_tag FROM order_version WHERE aggregate_id = ANY(%s)"
            " ORDER BY aggregate_id, processed_at, version", (ids,)).fetchall()
        views = dict(conn.execute("SELECT aggregate_id, version FROM order_view WHERE aggregate_id = ANY(%s)",
                                  (ids,)).fetchall())
    counts: dict[tuple[UUID, int], int] = defaultdict(int)
    in_processing_order: dict[UUID, list[int]] = defaultdict(list)
    for aggregate_id, version, _tag in rows:
        counts[(aggregate_id, version)] += 1
        in_processing_order[aggregate_id].append(version)
    newest: dict[UUID, int] = defaultdict(int)
    for aggregate_id, version in committed:
        newest[aggregate_id] = max(newest[aggregate_id], version)
    return Tally(
        committed=len(committed),
        processed=len(rows),
        duplicates=sum(1 for n in counts.values() if n > 1),
        missing=len(committed - counts.keys()),
        extra=len(counts.keys() - committed),
        gaps=sum(1 for vs in in_processing_order.values() if sorted(set(vs)) != list(range(1, max(vs) + 1))),
        reordered=sum(1 for vs in in_processing_order.values() if vs != sorted(vs)),
        tags=len({tag for *_, tag in rows}),
        stale_views=sum(1 for a, v in newest.items() if views.get(a) != v),
    )


def wait_until_processed(settings: Settings, orders: Iterable[UUID], timeout: float) -> tuple[Tally, float]:
    """Wait until every committed version of the orders is processed; returns the tally and the seconds it took."""
    orders = list(orders)
    started = time.monotonic()
    last: list[Tally] = []

    def all_processed() -> Tally | None:
        counted = tally(settings, orders)
        last[:] = [counted]
        return counted if counted.processed >= counted.committed and not counted.missing else None

    try:
        counted = wait_until(all_processed, timeout, "every version to be processed", interval=0.1)
    except AssertionError:
        raise AssertionError(f"not processed after {timeout}s: {last[0] if last else None}") from None
    return counted, time.monotonic() - started


@dataclass
class Commands:
    """Commands sent to the API and what it answered; safe to use from several threads."""

    base_url: str
    key: str
    jobs: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, client: httpx.Client, method: str, path: str, body: dict) -> str | None:
        started = time.monotonic()
        try:
            answer = client.request(method, f"{self.base_url}/api/v3{path}", json=body, headers={"apikey": self.key})
        except httpx.HTTPError as error:
            answer, outcome = None, repr(error)
        else:
            outcome = answer.text
        with self._lock:
            self.latencies.append(time.monotonic() - started)
            if answer is not None and answer.status_code == 202:
                self.jobs.append(answer.json()["jobId"])
                return self.jobs[-1]
            self.failures.append(f"{method} {path}: {answer.status_code if answer else '-'} {outcome[:200]}")
        return None

    def create(self, client: httpx.Client, order_id: str) -> str | None:
        return self.send(client, "POST", "/orders", an_order(order_id))

    def change_status(self, client: httpx.Client, order_id: str, status: str) -> str | None:
        return self.send(client, "POST", f"/orders/{order_id}/change-status", {"status": status})

    @property
    def orders(self) -> set[UUID]:
        return {parse_job_id(job)[0] for job in self.jobs}


def an_order(order_id: str) -> dict:
    # Consistent totals, taxes and payments, so every tenant's default validation accepts it.
    return {
        "orderId": order_id,
        "contact": {"matchKey": "chaos@example.com", "matchKeyType": "Email"},
        "currency": "SEK",
        "status": "New",
        "items": [{"sku": "SKU-1", "quantity": 1, "grossPaidPrice": 100.00, "taxPercent": 25, "taxAmount": 20.00}],
        "totalGrossPrice": 100.00,
        "totalTax": 20.00,
        "paymentMethods": [{"type": "card", "value": 100.00}],
    }
