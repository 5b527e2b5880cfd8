"""Erasing a contact (GDPR): destroy the contact's keys, then rewrite the views of the orders they sealed.

After the keys are gone, every sealed value of the contact in the event store
reads as "[erased]", in every version, history read and export. The read
models hold opened copies, so the orders whose events used those keys are
folded again into their views. That waits out the other processes' key caches
first (contact_keys.CACHE_SECONDS): a projection job that still held the key
could otherwise write clear data after the rewrite. Order facts stay.

Not reached: copies outside this service's read models (webhook payloads kept
for redelivery, exports already made, database backups) — see the README.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from uuid import UUID

import psycopg

from orderledger.application import OrderLedger
from orderledger.infrastructure.contact_keys import CACHE_SECONDS, Subject
from orderledger.infrastructure.crypto_shredding import AES_GCM
from orderledger.infrastructure.event_reads import EVENTS_TABLE
from projections.locks import REBUILD_OR_ERASURE
from projections.order_view.rebuild import rewrite_live_views

# Orders of the tenant with a value sealed under any of the keys (their envelopes start with alg and key id).
_SEALED_WITH = f"""
SELECT DISTINCT originator_id FROM {EVENTS_TABLE}
WHERE orderledger_event_tenant(state) = %s AND EXISTS (SELECT 1 FROM unnest(%s::bytea[]) p WHERE position(p IN state) > 0)
"""


class ErasureBusy(RuntimeError):
    """A rebuild is running; the erasure did nothing (try again when it has finished)."""


@dataclass(frozen=True, slots=True)
class ErasureReport:
    keys: int  # keys destroyed
    orders: int  # order views rewritten


def erase_contact(database_url: str, ledger: OrderLedger, tenant_id: UUID, match_key: str, *, wait: bool = True,
                  cache_seconds: float = CACHE_SECONDS) -> ErasureReport:
    """Erase a contact's personal data everywhere in the service; idempotent.

    `wait`: wait for a running rebuild to finish, else raise ErasureBusy.
    """
    with psycopg.connect(database_url, autocommit=True) as conn:
        if wait:
            conn.execute("SELECT pg_advisory_lock(%s, %s)", REBUILD_OR_ERASURE)
        elif not conn.execute("SELECT pg_try_advisory_lock(%s, %s)", REBUILD_OR_ERASURE).fetchone()[0]:
            raise ErasureBusy("a rebuild is running")
        keys = ledger.mapper.sealer.keys.erase(Subject.contact(str(tenant_id), match_key))  # type: ignore[attr-defined]
        if not keys:
            return ErasureReport(0, 0)
        patterns = [_envelope_prefix(alg, key_id) for key_id in keys for alg in (AES_GCM,)]
        orders = [row[0] for row in conn.execute(_SEALED_WITH, (str(tenant_id), patterns)).fetchall()]
        time.sleep(cache_seconds + 0.5)  # until no process can still open the erased values
        return ErasureReport(len(keys), rewrite_live_views(conn, ledger, orders))


def _envelope_prefix(alg: int, key_id: UUID) -> bytes:
    # The first 21 base64 characters encode only the algorithm and key id bytes (the 22nd mixes in the nonce).
    return b'"_sealed_":"' + base64.urlsafe_b64encode(bytes([alg]) + key_id.bytes)[:21]
