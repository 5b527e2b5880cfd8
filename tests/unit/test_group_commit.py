"""The group committer's rules, with a recording commit function (the event store's part is in tests/integration)."""

from __future__ import annotations

import threading

import pytest

from orderledger.infrastructure.group_commit import GroupCommitter


class Store:
    """Records each batch; refuses any batch holding a 'bad' entry, as a unique key would."""

    def __init__(self, gate: threading.Event | None = None) -> None:
        self.batches: list[list[str]] = []
        self.gate = gate
        self.entered = threading.Event()

    def commit(self, entries: list[str]) -> None:
        self.entered.set()
        if self.gate is not None:
            self.gate.wait(5)  # hold the first commit so that the others gather behind it
        if any(entry.startswith("bad") for entry in entries):
            raise ValueError(f"refused {entries}")
        self.batches.append(list(entries))


def order_of(entry: str) -> frozenset[str]:
    return frozenset({entry.split("/")[0]})


def commit_concurrently(
    committer: GroupCommitter[str], entries: list[str]
) -> tuple[dict[str, BaseException | None], list[threading.Thread]]:
    results: dict[str, BaseException | None] = {}

    def run(entry: str) -> None:
        try:
            committer.commit(entry)
            results[entry] = None
        except BaseException as error:  # noqa: BLE001 - the test inspects it
            results[entry] = error

    threads = [threading.Thread(target=run, args=(entry,)) for entry in entries]
    for thread in threads:
        thread.start()
    return results, threads


def behind_a_held_commit(held: str, entries: list[str]) -> tuple[Store, GroupCommitter[str], dict, dict]:
    """Commit `held` (the store holds it at its gate), let `entries` gather behind it, then open the gate.

    Returns the store, the closed committer, and each call's result (None, or the error it raised).
    """
    gate = threading.Event()
    store = Store(gate)
    committer = GroupCommitter(store.commit, order_of)
    first_results, first = commit_concurrently(committer, [held])
    _wait_for(store.entered.is_set)  # taken by the committer, which now waits at the gate
    results, more = commit_concurrently(committer, entries)
    _wait_for(lambda: len(committer._waiting) == len(entries))
    gate.set()
    for thread in first + more:
        thread.join(5)
    committer.close()
    return store, committer, first_results, results


def test_entries_waiting_together_are_committed_in_one_batch():
    store, committer, results, waiting = behind_a_held_commit("a/1", [f"o{i}/1" for i in range(10)])

    assert store.batches[0] == ["a/1"]
    assert sorted(store.batches[1]) == sorted(f"o{i}/1" for i in range(10))  # all ten in one commit
    assert all(error is None for error in {**results, **waiting}.values())
    assert (committer.batches, committer.saved) == (2, 11)


def test_two_entries_for_one_order_never_share_a_batch():
    store, _, _, _ = behind_a_held_commit("x/0", ["a/1", "b/1", "a/2", "c/1"])

    for batch in store.batches:
        orders = [entry.split("/")[0] for entry in batch]
        assert len(orders) == len(set(orders)), batch
    assert sorted(e for batch in store.batches for e in batch) == ["a/1", "a/2", "b/1", "c/1", "x/0"]
    # The later command on an order is committed in a later batch (it decides on the first one's result).
    position = {entry: i for i, batch in enumerate(store.batches) for entry in batch}
    assert position["a/2"] > position["a/1"]


def test_a_refused_entry_fails_only_its_own_caller():
    store, _, _, results = behind_a_held_commit("x/0", ["a/1", "bad/1", "c/1"])

    assert isinstance(results["bad/1"], ValueError)
    assert results["a/1"] is None and results["c/1"] is None
    assert sorted(e for batch in store.batches for e in batch) == ["a/1", "c/1", "x/0"]


def test_a_closed_committer_refuses_new_entries():
    committer = GroupCommitter(Store().commit, order_of)
    committer.close()
    with pytest.raises(RuntimeError):
        committer.commit("a/1")


def _wait_for(condition, seconds: float = 5.0) -> None:
    from tests.waiting import wait_until

    wait_until(condition, seconds, "entries to gather behind the held commit")
