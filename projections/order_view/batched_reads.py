"""Order reads for the API, coalesced: reads asked for while earlier ones are in flight share one query.

On a busy API the round trip of a read (a socket write that wakes a PostgreSQL
backend, the statement, the reply, the pool's bookkeeping) costs more than the
rest of the request. So one query runs at a time, and every read asked for
meanwhile waits for the next one, which fetches them all (with 16 clients,
5 to 9 reads a query; allowing two queries at a time measured no better).
A read never joins a query already sent: it sees every version processed
before it was asked for, as a query of its own would. With one client at a
time there is no one to share with and each read is its own query, as before.
"""

from __future__ import annotations

import asyncio
from uuid import UUID

import asyncpg

from projections.order_view.queries import ProcessedOrder, processed_order_from

# Up to this many orders in one query: the batch stays a handful of index lookups.
MAX_BATCH = 64

# `wanted` is the read's position in the batch (from 1), so each row goes back to the read that asked for it.
_ORDERS = """
SELECT w.wanted, v.order_id, v.version, t.version_tag, v.document::text AS document, v.created_at, v.updated_at
FROM unnest($1::uuid[], $2::text[]) WITH ORDINALITY AS w(tenant_id, order_id, wanted)
JOIN order_view v ON v.tenant_id = w.tenant_id AND v.order_id = w.order_id
JOIN order_version t ON t.aggregate_id = v.aggregate_id AND t.version = v.version
WHERE NOT v.is_deleted
"""

_Key = tuple[UUID, str]


class OrderReads:
    """`processed_order` for many concurrent requests, with one query per batch of them (see the module)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._waiting: dict[_Key, list[asyncio.Future[ProcessedOrder | None]]] = {}
        self._reading = False  # a query is in flight
        self._dispatch_scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()  # kept so no running batch is garbage-collected

    async def processed_order(self, tenant_id: UUID, order_id: str) -> ProcessedOrder | None:
        """The latest processed version of a live order, or None (unknown, deleted, or not yet processed)."""
        if not _storable(order_id):
            return None  # no stored order has such an id, and in a batch it would fail the others' query
        loop = asyncio.get_running_loop()
        future: asyncio.Future[ProcessedOrder | None] = loop.create_future()
        self._waiting.setdefault((tenant_id, order_id), []).append(future)
        self._schedule(loop)
        return await future

    def _schedule(self, loop: asyncio.AbstractEventLoop) -> None:
        # On the loop's next turn, so reads asked for in this turn (requests that arrived together) go in one query.
        if self._waiting and not self._reading and not self._dispatch_scheduled:
            self._dispatch_scheduled = True
            loop.call_soon(self._dispatch, loop)

    def _dispatch(self, loop: asyncio.AbstractEventLoop) -> None:
        self._dispatch_scheduled = False
        if not self._waiting or self._reading:
            return
        batch = {key: self._waiting.pop(key) for key in list(self._waiting)[:MAX_BATCH]}
        self._reading = True
        task = loop.create_task(self._read(batch, loop))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _read(self, batch: dict[_Key, list[asyncio.Future[ProcessedOrder | None]]],
                    loop: asyncio.AbstractEventLoop) -> None:
        try:
            rows = await self._pool.fetch(_ORDERS, [key[0] for key in batch], [key[1] for key in batch])
        except Exception as error:  # every read of the batch answers with the query's failure, as its own would
            for future in _pending(batch):
                future.set_exception(error)
        except BaseException:  # cancelled (the server stops): so are the reads
            for future in _pending(batch):
                future.cancel()
            raise
        else:
            found: dict[int, asyncpg.Record] = {row["wanted"]: row for row in rows}
            for wanted, futures in enumerate(batch.values(), start=1):
                row = found.get(wanted)
                for future in futures:
                    if not future.done():  # its request may have been cancelled (the client went away)
                        future.set_result(None if row is None else processed_order_from(row))
        finally:
            self._reading = False
            self._schedule(loop)


def _storable(order_id: str) -> bool:
    """Whether PostgreSQL can hold the id as text: no NUL character, valid UTF-8."""
    if "\x00" in order_id:
        return False
    try:
        order_id.encode()
    except UnicodeEncodeError:  # a lone surrogate
        return False
    return True


def _pending(batch: dict[_Key, list[asyncio.Future[ProcessedOrder | None]]]) -> list[asyncio.Future[ProcessedOrder | None]]:
    return [future for futures in batch.values() for future in futures if not future.done()]
