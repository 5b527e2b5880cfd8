"""Advisory locks shared by the projection writers and a rebuild's switch-over.

Every transaction that writes a projection's tables takes PROJECTION_WRITERS
shared, as its first statement; a rebuild takes it exclusively to switch to
its fresh tables, so no writer is half-way through the old ones, and writers
that wait meanwhile find the new tables by name when they go on. Two-int keys:
a key space apart from the per-order bigint locks.
"""

from __future__ import annotations

_CLASS = 0x6F6C7072  # "olpr"
PROJECTION_WRITERS = (_CLASS, 1)
# One rebuild or erasure at a time (a session lock): an erasure must not race a rebuild's copy.
REBUILD_OR_ERASURE = (_CLASS, 2)
