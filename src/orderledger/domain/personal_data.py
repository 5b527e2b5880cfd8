"""Which parts of an order are personal data, and how an erased value reads.

Personal data is stored sealed with a key of its contact (crypto-shredding):
destroying the key erases it everywhere while the order's facts (amounts,
skus, statuses, dates) stay readable. This module only says WHERE personal
data sits in an order document; sealing is infrastructure. Pure.

Every personal value is a leaf string (Customer, Address, contact.matchKey,
free texts), so an erased order keeps its shape: each erased leaf reads as
`ERASED`, and the document still fits the order model (a later PATCH works).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# What a reader sees in place of a value whose key was destroyed.
ERASED = "[erased]"

# Top-level fields that are personal as a whole (every leaf under them).
_PERSONAL_OBJECTS = frozenset({"customer"})
# Addresses are personal except the country: alone it identifies no one and analysts group by it.
_ADDRESSES = frozenset({"shippingAddress", "billingAddress"})
_ADDRESS_FACTS = frozenset({"country"})
# Free texts and references that point at a person or their payment.
_PERSONAL_TEXTS = frozenset({"specialInstructions", "paymentReference"})

Leaf = Any


def contact_key_of(document: dict[str, Any]) -> str | None:
    """The contact's matchKey, or None (no contact, or erased)."""
    contact = document.get("contact")
    key = contact.get("matchKey") if isinstance(contact, dict) else None
    return key if isinstance(key, str) and key != ERASED else None


def has_personal_data(fields: dict[str, Any]) -> bool:
    """Whether a document (or a header change) holds any personal value."""
    found = False

    def note(value: Leaf) -> Leaf:
        nonlocal found
        found = True
        return value

    map_personal(fields, note)
    return found


def map_personal(fields: dict[str, Any], change: Callable[[Leaf], Leaf]) -> dict[str, Any]:
    """A copy of `fields` (a document or a header change) with `change` applied to every personal leaf.

    Non-personal parts are shared, not copied. A None (a removal in a change)
    is no data and is left alone.
    """
    result = dict(fields)
    for name, value in fields.items():
        if value is None:
            continue
        if name == "contact" and isinstance(value, dict) and value.get("matchKey") is not None:
            result[name] = {**value, "matchKey": change(value["matchKey"])}
        elif name in _PERSONAL_OBJECTS:
            result[name] = _map_leaves(value, change, keep=frozenset())
        elif name in _ADDRESSES:
            result[name] = _map_leaves(value, change, keep=_ADDRESS_FACTS)
        elif name in _PERSONAL_TEXTS:
            result[name] = change(value)
    return result


def _map_leaves(value: Any, change: Callable[[Leaf], Leaf], keep: frozenset[str]) -> Any:
    if isinstance(value, dict):
        return {k: v if (k in keep or v is None) else _map_leaves(v, change, frozenset()) for k, v in value.items()}
    if isinstance(value, list):
        return [_map_leaves(v, change, frozenset()) for v in value]
    return change(value)
