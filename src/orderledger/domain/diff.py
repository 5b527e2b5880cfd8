"""What changed between two versions of an order: the header field by field, the lines line by line.

Header fields are compared leaf by leaf through nested objects (`/customer/email`);
lists other than the lines (references, payment methods, tax details) are
compared as whole values. Lines are matched by position, as the ledger's line
events name them. A field absent from a document compares as None. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Document = dict[str, Any]

ADDED, REMOVED, CHANGED = "added", "removed", "changed"


@dataclass(frozen=True, slots=True)
class FieldChange:
    pointer: str  # JSON pointer (RFC 6901) into the document, or into the line for line fields
    before: Any
    after: Any


@dataclass(frozen=True, slots=True)
class LineChange:
    index: int
    change: str  # added | removed | changed
    before: Document | None = None
    after: Document | None = None
    fields: list[FieldChange] = field(default_factory=list)  # for `changed`


@dataclass(frozen=True, slots=True)
class OrderDiff:
    header: list[FieldChange]
    items: list[LineChange]

    @property
    def is_empty(self) -> bool:
        return not self.header and not self.items


def diff_orders(before: Document, after: Document) -> OrderDiff:
    """The changes that turn `before` into `after`."""
    header = _diff_fields(_without_items(before), _without_items(after), "")
    old_lines, new_lines = before.get("items") or [], after.get("items") or []
    lines: list[LineChange] = []
    for index in range(max(len(old_lines), len(new_lines))):
        if index >= len(old_lines):
            lines.append(LineChange(index, ADDED, after=new_lines[index]))
        elif index >= len(new_lines):
            lines.append(LineChange(index, REMOVED, before=old_lines[index]))
        elif old_lines[index] != new_lines[index]:
            lines.append(LineChange(index, CHANGED, old_lines[index], new_lines[index],
                                    _diff_fields(old_lines[index], new_lines[index], "")))
    return OrderDiff(header, lines)


def diff_to_builtins(diff: OrderDiff) -> dict[str, Any]:
    """The diff as JSON-ready data (`before`/`after` of added and removed lines only where they exist)."""

    def line(change: LineChange) -> dict[str, Any]:
        out: dict[str, Any] = {"index": change.index, "change": change.change}
        if change.change == CHANGED:
            out["fields"] = [_field(f) for f in change.fields]
        elif change.change == ADDED:
            out["after"] = change.after
        else:
            out["before"] = change.before
        return out

    return {"header": [_field(f) for f in diff.header], "items": [line(c) for c in diff.items]}


def _field(change: FieldChange) -> dict[str, Any]:
    return {"pointer": change.pointer, "before": change.before, "after": change.after}


def _without_items(document: Document) -> Document:
    return {k: v for k, v in document.items() if k != "items"}


def _diff_fields(before: Document, after: Document, prefix: str) -> list[FieldChange]:
    changes: list[FieldChange] = []
    # Keys in a stable order: the old document's first, then the ones only the new one has.
    keys = list(before) + [k for k in after if k not in before]
    for key in keys:
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        pointer = f"{prefix}/{_escape(key)}"
        if isinstance(old, dict) and isinstance(new, dict):
            changes.extend(_diff_fields(old, new, pointer))
        else:
            changes.append(FieldChange(pointer, old, new))
    return changes


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")
