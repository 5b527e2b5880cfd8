"""The contact key store: one data key per (tenant, data subject), destroyed to erase the subject.

A data subject is a contact (by matchKey) or, for an order without a contact,
the order itself. Rows are found by an HMAC of the subject under a per-database
secret, so no clear matchKey sits in this table or its index. Erasing a subject
nulls its key and its hash and keeps a tombstone (`erased_at`), so a sealed
value whose key is gone reads as erased rather than as a missing key.

Keys are cached per process for `CACHE_SECONDS`: reads of one order's stream
would otherwise ask for the same key once per event. So another process may
use a key up to that long after it was destroyed; erasure waits that long
before it rewrites the read models (see history/erasure.py). A destroyed key is
remembered for good: it never comes back.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from uuid import UUID, uuid4

import psycopg

DDL = """
CREATE TABLE IF NOT EXISTS contact_key (
    key_id        uuid PRIMARY KEY,
    tenant_id     text NOT NULL,
    subject_hash  bytea,          -- HMAC of the subject; NULL once erased
    key           bytea,          -- the data key; NULL once erased
    created_at    timestamptz NOT NULL DEFAULT now(),
    erased_at     timestamptz
);
-- One live key per subject; an erased subject that comes back gets a new one.
CREATE UNIQUE INDEX IF NOT EXISTS contact_key_live_idx ON contact_key (tenant_id, subject_hash) WHERE erased_at IS NULL;

-- Secrets the service keeps in its own database (generated once by migrate).
CREATE TABLE IF NOT EXISTS ledger_secret (
    name    text PRIMARY KEY,
    secret  bytea NOT NULL
);
"""

SUBJECT_SECRET = "subject_hash"
CACHE_SECONDS = 2.0
KEY_BYTES = 32

Connect = Callable[[], AbstractContextManager[psycopg.Connection]]

_LIVE = "SELECT key_id, key FROM contact_key WHERE tenant_id = %s AND subject_hash = %s AND erased_at IS NULL"
# One round trip for the common cases: the subject's live key, or a new one. A new key commits without
# waiting for its WAL flush: the event sealed with it commits after it, and that commit's flush covers the
# key's record too, so an event is never durable without its key (and a key lost with no event is no loss).
_GET_OR_CREATE = f"""
WITH live AS ({_LIVE}),
made AS (
    INSERT INTO contact_key (key_id, tenant_id, subject_hash, key)
    SELECT %s, %s, %s, %s FROM (SELECT set_config('synchronous_commit', 'off', true)) AS no_flush_wait
    WHERE NOT EXISTS (SELECT 1 FROM live)
    ON CONFLICT (tenant_id, subject_hash) WHERE erased_at IS NULL DO NOTHING
    RETURNING key_id, key
)
SELECT key_id, key FROM live UNION ALL SELECT key_id, key FROM made
"""


@dataclass(frozen=True, slots=True)
class Subject:
    """Whose personal data a value is: a contact (by matchKey) or one order (by stream id)."""

    tenant_id: str
    kind: str  # "contact" | "order"
    value: str

    @classmethod
    def contact(cls, tenant_id: str, match_key: str) -> Subject:
        return cls(tenant_id, "contact", match_key)

    @classmethod
    def order(cls, tenant_id: str, aggregate_id: UUID) -> Subject:
        return cls(tenant_id, "order", aggregate_id.hex)


def ensure_subject_secret(conn: psycopg.Connection) -> None:
    """Create the subject-hash secret once (migrate calls this; concurrent calls keep the first)."""
    conn.execute("INSERT INTO ledger_secret (name, secret) VALUES (%s, %s) ON CONFLICT (name) DO NOTHING",
                 (SUBJECT_SECRET, secrets.token_bytes(32)))


class ContactKeys:
    """Data keys by subject (get or create) and by key id, cached briefly; thread-safe."""

    def __init__(self, connect: Connect, cache_seconds: float = CACHE_SECONDS) -> None:
        self._connect = connect
        self._ttl = cache_seconds
        self._secret: bytes | None = None
        self._live: dict[Subject, tuple[float, UUID, bytes]] = {}
        self._by_id: dict[UUID, tuple[float, bytes | None]] = {}
        self._lock = threading.Lock()

    def subject_hash(self, subject: Subject) -> bytes:
        if self._secret is None:
            with self._connect() as conn:
                row = conn.execute("SELECT secret FROM ledger_secret WHERE name = %s", (SUBJECT_SECRET,)).fetchone()
            if row is None:
                raise RuntimeError("no subject secret: run `orderledger migrate`")
            self._secret = bytes(_first(row))
        message = "\x1f".join((subject.tenant_id, subject.kind, subject.value)).encode()
        return hmac.new(self._secret, message, hashlib.sha256).digest()

    def live_key(self, subject: Subject) -> tuple[UUID, bytes]:
        """The subject's current key (created on first use) as (key id, key)."""
        now = time.monotonic()
        hit = self._live.get(subject)
        if hit is not None and hit[0] > now:
            return hit[1], hit[2]
        digest = self.subject_hash(subject)
        with self._connect() as conn:
            row = conn.execute(_GET_OR_CREATE, (subject.tenant_id, digest, uuid4(), subject.tenant_id, digest,
                                                secrets.token_bytes(KEY_BYTES))).fetchone()
            if row is None:  # a concurrent first use created it after our snapshot: it is there now
                row = conn.execute(_LIVE, (subject.tenant_id, digest)).fetchone()
        key_id, key = _pair(row)
        with self._lock:
            self._live[subject] = (now + self._ttl, key_id, key)
            self._by_id[key_id] = (now + self._ttl, key)
        return key_id, key

    def key(self, key_id: UUID) -> bytes | None:
        """The key with this id, or None once it is destroyed (or was never stored)."""
        hit = self._by_id.get(key_id)
        if hit is None or hit[0] <= time.monotonic():
            self.prefetch([key_id])
            hit = self._by_id[key_id]
        return hit[1]

    def prefetch(self, key_ids: Iterable[UUID]) -> None:
        """Load these keys in one query (bulk readers call this per page, rather than one query per key)."""
        now = time.monotonic()
        wanted = list({k for k in key_ids if (hit := self._by_id.get(k)) is None or hit[0] <= now})
        if not wanted:
            return
        with self._connect() as conn:
            rows = conn.execute("SELECT key_id, key FROM contact_key WHERE key_id = ANY(%s)", (wanted,)).fetchall()
        found = dict(_pair(row, allow_none=True) for row in rows)
        with self._lock:
            for key_id in wanted:
                key = found.get(key_id)
                # A destroyed key (its row kept, key NULL) never comes back: remember that for good.
                until = float("inf") if key_id in found and key is None else now + self._ttl
                self._by_id[key_id] = (until, key)

    def erase(self, subject: Subject) -> list[UUID]:
        """Destroy every live key of the subject; returns their ids (empty if there was none)."""
        digest = self.subject_hash(subject)
        with self._connect() as conn:
            rows = conn.execute(
                "UPDATE contact_key SET key = NULL, subject_hash = NULL, erased_at = now() "
                "WHERE tenant_id = %s AND subject_hash = %s AND erased_at IS NULL RETURNING key_id",
                (subject.tenant_id, digest),
            ).fetchall()
        erased = [_first(row) for row in rows]
        with self._lock:
            self._live.pop(subject, None)
            for key_id in erased:
                self._by_id[key_id] = (float("inf"), None)
        return erased


def _first(row: object) -> object:
    # The library's pool yields dict rows; a plain psycopg connection yields tuples.
    return next(iter(row.values())) if isinstance(row, dict) else row[0]  # type: ignore[index]


def _pair(row: object, allow_none: bool = False) -> tuple[UUID, bytes]:
    key_id, key = (row["key_id"], row["key"]) if isinstance(row, dict) else row  # type: ignore[index, misc]
    return key_id, (None if key is None and allow_none else bytes(key))  # type: ignore[return-value]
