"""Group commit: many threads' new events stored in one event-store transaction.

The event store serialises writers with an EXCLUSIVE table lock, taken for two
round trips and a COMMIT per `save()`. Under concurrent commands that lock, not
the disk, sets the rate (BENCHMARKS.md). So one committer thread per process
takes every entry (one command's new events) handed to it while its previous
commit ran and stores them together: one lock, one multi-row INSERT, one
COMMIT. Each caller blocks until the commit of its own batch, so returning
still means committed, and a failure reaches exactly the caller whose entry
caused it: a failed batch is committed again one entry at a time.

Two commands on one order never share a batch: the second waits for the next
one, so it decides on the first one's result (a (stream, version) conflict is
then the ordinary optimistic-concurrency conflict, retried by the caller).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Generic, TypeVar

log = logging.getLogger("orderledger.group_commit")

# Enough to amortise the lock and the commit; small enough that one batch's INSERT stays short.
MAX_BATCH = 64


Entry = TypeVar("Entry")


class _Pending(Generic[Entry]):
    __slots__ = ("entry", "keys", "done")

    def __init__(self, entry: Entry, keys: frozenset[Any]) -> None:
        self.entry, self.keys = entry, keys
        self.done: Future[None] = Future()


class GroupCommitter(Generic[Entry]):
    """Commits entries handed over from any thread, in batches, on one committer thread.

    `commit(entries)` stores a batch in one transaction (all or nothing);
    `keys(entry)` names what an entry writes to (its orders), so that two
    entries writing to the same one never share a batch.
    """

    def __init__(self, commit: Callable[[list[Entry]], Any], keys: Callable[[Entry], frozenset[Any]],
                 max_batch: int = MAX_BATCH, name: str = "group-commit") -> None:
        self._commit_entries, self._keys = commit, keys
        self._max_batch = max_batch
        self._waiting: deque[_Pending[Entry]] = deque()
        self._wake = threading.Condition()
        self._closed = False
        self.batches = 0  # for operators and benchmarks: commits made, and the entries they stored
        self.saved = 0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def commit(self, entry: Entry) -> None:
        """Store the entry with whatever else is waiting; returns once committed, raises what its commit raised."""
        pending = _Pending(entry, self._keys(entry))
        with self._wake:
            if self._closed:
                raise RuntimeError("the group committer is closed")
            self._waiting.append(pending)
            self._wake.notify()
        pending.done.result()

    def close(self) -> None:
        """Commit what is waiting, then stop the committer thread."""
        with self._wake:
            self._closed = True
            self._wake.notify()
        self._thread.join()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._waiting and not self._closed:
                    self._wake.wait()
                if not self._waiting:
                    return  # closed and drained
                batch = self._take_batch()
            self._commit(batch)

    def _take_batch(self) -> list[_Pending[Entry]]:
        """The waiting entries, oldest first, up to the batch size, at most one entry per key."""
        batch: list[_Pending[Entry]] = []
        keys: set[Any] = set()
        deferred: list[_Pending[Entry]] = []
        while self._waiting and len(batch) < self._max_batch:
            pending = self._waiting.popleft()
            if keys & pending.keys:
                deferred.append(pending)  # the same order as one already in this batch: the next batch
                continue
            keys |= pending.keys
            batch.append(pending)
        self._waiting.extendleft(reversed(deferred))
        return batch

    def _commit(self, batch: list[_Pending[Entry]]) -> None:
        try:
            self._commit_entries([pending.entry for pending in batch])
        except Exception as error:
            if len(batch) == 1:
                batch[0].done.set_exception(error)
                return
            # Which one failed? Commit each alone, so only its caller sees the error (a conflict, usually).
            log.debug("batch of %d failed (%r); saving one by one", len(batch), error)
            for pending in batch:
                self._commit([pending])
            return
        self.batches += 1
        self.saved += len(batch)
        for pending in batch:
            pending.done.set_result(None)
