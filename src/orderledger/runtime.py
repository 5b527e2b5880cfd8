"""Process-level tuning shared by the long-running processes (API and worker)."""

from __future__ import annotations

import gc


def freeze_startup_objects() -> None:
    """Leave what exists once a process has started (modules, the app, pools) out of later collections.

    A server's start-up objects never become garbage, yet every full
    (generation 2) collection walks them all: in a worker that showed as 30 to
    40 ms pauses in the middle of processing a batch. Frozen, they are skipped.
    """
    gc.collect()
    gc.freeze()
