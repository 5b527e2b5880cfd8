"""Webhook signatures: a receiver proves a delivery came from us and was not replayed later.

The header is `X-Orderledger-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>`,
the MAC taken with the subscription's secret over `f"{t}."` followed by the
exact body bytes. Signing the timestamp with the body lets a receiver refuse an
old delivery replayed by someone who captured it. Pure: the clock is passed in.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Orderledger-Signature"
DELIVERY_HEADER = "X-Orderledger-Delivery"
SEQUENCE_HEADER = "X-Orderledger-Sequence"
EVENT_HEADER = "X-Orderledger-Event"

# How old a signed timestamp a receiver should accept, in seconds (our retries re-sign with a fresh one).
DEFAULT_TOLERANCE = 300


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The hex MAC of one delivery attempt."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    """The value of X-Orderledger-Signature for `body` sent at `timestamp`."""
    return f"t={timestamp},v1={signature(secret, timestamp, body)}"


def verify(secret: str, header: str, body: bytes, now: int, tolerance: int = DEFAULT_TOLERANCE) -> bool:
    """True when `header` signs `body` with `secret` and its timestamp is within `tolerance` of `now`."""
    fields: dict[str, list[str]] = {}
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        fields.setdefault(name, []).append(value)
    try:
        timestamp = int(fields["t"][0])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance:
        return False
    expected = signature(secret, timestamp, body)
    # Several v1 values may be sent while a secret is rotated; any one matching is enough.
    return any(hmac.compare_digest(expected, candidate) for candidate in fields.get("v1", []))
