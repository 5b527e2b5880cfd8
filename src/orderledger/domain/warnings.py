"""Warnings: things an integrator must see about a processed order that do not stop it.

A version with warnings is `CompletedWithErrors` in job status.
"""

from __future__ import annotations

from typing import Any


def warnings_for(document: dict[str, Any]) -> list[dict[str, str]]:
    found: list[dict[str, str]] = []
    if not (document.get("contact") or {}).get("matchKey"):
        found.append({"code": "order_has_no_contact", "pointer": "/contact", "detail": "the order has no contact; actions cannot run for it"})
    for index, line in enumerate(document.get("items") or []):
        if not line.get("sku"):
            found.append({"code": "line_without_sku", "pointer": f"/items/{index}/sku", "detail": "the line has no sku"})
    return found
