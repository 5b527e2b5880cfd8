"""The safe head of the event store: the highest notification id below which nothing can still appear.

A reader that follows the notification log must never pass an id that a slower
transaction still holds: that transaction would commit later with a lower id
than one already read, and the reader would skip it. The library's recorder
prevents that with an EXCLUSIVE table lock per insert, but its
POSTGRES_ENABLE_DB_FUNCTIONS path inserts without that lock, and any other
writer could too. So readers bound themselves by transaction visibility
instead of trusting every writer:

1. read the notification sequence's last handed-out value L;
2. list the transactions that hold the events table's ROW EXCLUSIVE lock (every
   INSERT takes it before drawing an id and keeps it until it ends);
3. wait until those transactions have ended.

Any transaction holding an id <= L was among them, so afterwards every id <=
L is committed (and visible to a new snapshot) or a permanent gap. The reader
waits for in-flight inserts, usually a millisecond; writers never wait for it.
"""

from __future__ import annotations

import time

import psycopg

from orderledger.infrastructure.event_reads import EVENTS_TABLE

WAIT_SECONDS = 5.0

_LAST_ID = f"""
SELECT CASE WHEN is_called THEN last_value ELSE 0 END
FROM {EVENTS_TABLE}_notification_id_seq
"""

_INSERTERS = f"""
SELECT coalesce(array_agg(DISTINCT virtualtransaction), '{{}}')
FROM pg_locks
WHERE locktype = 'relation' AND relation = '{EVENTS_TABLE}'::regclass AND mode = 'RowExclusiveLock'
  AND granted AND pid <> pg_backend_pid()
  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
"""

_RUNNING = """
SELECT count(*) FROM pg_locks WHERE locktype = 'virtualxid' AND virtualxid = ANY(%s::text[])
"""


class HorizonTimeout(RuntimeError):
    """A transaction writing events stayed open longer than the reader would wait for it."""


def safe_head(conn: psycopg.Connection, wait: float = WAIT_SECONDS) -> int:
    """The highest notification id that is final (committed or a permanent gap), waiting for in-flight inserts.

    `conn` must be in autocommit mode (each statement its own snapshot).
    """
    last = _scalar(conn.execute(_LAST_ID).fetchone())
    inserters = _scalar(conn.execute(_INSERTERS).fetchone())
    deadline = time.monotonic() + wait
    pause = 0.0005
    while inserters and _scalar(conn.execute(_RUNNING, (inserters,)).fetchone()):
        if time.monotonic() > deadline:
            raise HorizonTimeout(f"transactions {inserters} have held new events uncommitted for over {wait:.0f}s")
        time.sleep(pause)
        pause = min(pause * 2, 0.02)
    return int(last)


def _scalar(row: object) -> object:
    return next(iter(row.values())) if isinstance(row, dict) else row[0]  # type: ignore[index, union-attr]
