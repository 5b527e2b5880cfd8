"""Response shapes, declared for the OpenAPI document (handlers write the same fields with the service's codec)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from orderledger.domain.model import OrderData


class Out(msgspec.Struct, rename="camel", omit_defaults=False):
    pass


class JobAccepted(Out):
    """Answer to every accepted command: poll `Location` (the job) until it is finished."""

    job_id: str
    order_id: str
    version: int
    status: str = "Queued"


class JobWarning(Out):
    code: str
    pointer: str
    detail: str


class JobError(Out):
    code: str
    detail: str


class JobStatus(Out):
    """`status` is Queued, Processing, Completed, CompletedWithErrors or Failed."""

    job_id: str
    status: str
    order_id: str
    version: int
    version_tag: str | None
    errors: list[JobError]
    warnings: list[JobWarning]
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None


class OrderOut(OrderData):
    """A processed order: its data plus identity, version and VersionTag."""

    order_id: str = ""
    version: int = 0
    version_tag: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None


class Links(Out):
    next: str | None = None
    previous: str | None = None


class ContactOrdersPage(Out):
    total_count: int
    offset: int
    count: int
    items: list[OrderOut]
    links: Links


class OrdersPage(Out):
    items: list[OrderOut]
    count: int
    links: Links


class ProblemError(Out):
    pointer: str
    code: str
    detail: str


class ProblemDetails(Out):
    """RFC 9457 problem details; `code` is stable and machine-readable."""

    type: str
    title: str
    status: int
    code: str
    detail: str
    instance: str | None = None
    errors: list[ProblemError] | None = None
    extra: dict[str, Any] | None = None
