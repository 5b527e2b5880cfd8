"""Projection requests from the API, sent to Redis in batches by one thread.

A committed command needs the workers told about its order. Each command
thread could make that Redis round trip itself, but under load that is a
round trip and a good share of the API's CPU per command, for what one
pipelined SADD can say for every order committed meanwhile. So command
threads hand the order over and wait for this thread, which sends what has
gathered, in one pipeline, like the group commit does for the events.

Waiting keeps a simple promise: after a 202, the workers have been told
(unless Redis is down). A request that never reaches Redis (it is down, or the
API dies first) is still not lost work: the sweeper finds every committed but
unprocessed version in the event store.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future
from uuid import UUID

from rq import Queue

from orderledger.infrastructure.queue import request_projection

log = logging.getLogger("orderledger.queue")

# One SADD of this many members at most (a bounded command; the rest go in the next one).
MAX_BATCH = 1000


class ProjectionRequester:
    def __init__(self, queue: Queue) -> None:
        self._queue = queue
        self._waiting: list[tuple[tuple[UUID, UUID], Future[bool]]] = []
        self._wake = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="projection-requests", daemon=True)
        self._thread.start()

    def request(self, tenant_id: UUID, aggregate_id: UUID) -> bool:
        """Ask for the order to be processed up to its latest version. False if Redis could not take it."""
        sent: Future[bool] = Future()
        with self._wake:
            if self._closed:
                return False
            self._waiting.append(((tenant_id, aggregate_id), sent))
            self._wake.notify()
        return sent.result()

    def close(self) -> None:
        """Send what is waiting, then stop."""
        with self._wake:
            self._closed = True
            self._wake.notify()
        self._thread.join(10)

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._waiting and not self._closed:
                    self._wake.wait()
                if not self._waiting:
                    return
                batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
            # Logged inside on failure; nothing else to do: the sweeper covers what Redis did not take.
            try:
                sent = request_projection(self._queue, list(dict.fromkeys(order for order, _ in batch)))
            except Exception:  # not Redis's: still answer every waiting command
                log.exception("projection request failed; the sweeper will process these orders")
                sent = False
            for _, future in batch:
                future.set_result(sent)
