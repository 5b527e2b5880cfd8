"""How an event reads in the history API, the feed and exports: one shape everywhere."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from orderledger.domain.order import Order

# Event attributes that are the envelope, not the payload.
_ENVELOPE = frozenset({"originator_id", "originator_version", "originator_topic", "timestamp", "tenant_id", "caused_by"})


def event_to_json(event: Order.Event) -> dict[str, Any]:
    """{version, type, time, payload, metadata}: metadata is what caused it (command, requestId, apiKey ...)."""
    state = vars(event)
    return {
        "version": event.originator_version,
        "type": type(event).__name__,
        "time": event.timestamp,
        "payload": {_camel(k): v for k, v in state.items() if k not in _ENVELOPE},
        "metadata": dict(state.get("caused_by") or {}),
    }


@lru_cache(maxsize=256)
def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)
