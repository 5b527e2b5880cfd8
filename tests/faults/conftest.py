"""Fault-test fixtures: a stack of real processes per test, stopped (or reaped) at the end."""

from __future__ import annotations

from collections.abc import Iterator
from uuid import UUID

import psycopg
import pytest

from orderledger.tenancy import create_key
from tests.conftest import unique
from tests.faults.stack import Stack


@pytest.fixture
def stack(settings, tmp_path) -> Iterator[Stack]:
    processes = Stack(settings, tmp_path, env={"ORDERLEDGER_FAULT_INJECTION": "1"})
    try:
        yield processes
    finally:
        processes.stop_all()


@pytest.fixture
def tenant(settings) -> tuple[UUID, str]:
    """(tenant id, API key) of a tenant of this test's own."""
    with psycopg.connect(settings.database_url) as conn:
        found, key = create_key(conn, unique("tenant"))
    return found.tenant_id, key
