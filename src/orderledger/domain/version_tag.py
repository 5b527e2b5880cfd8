"""VersionTags: opaque, unforgeable names for one processed version of one order.

A tag is base64url(key id | tenant | order stream | version | MAC), the MAC an
HMAC-SHA256 (truncated to 128 bits) with a server secret over everything before
it. The key id lets the secret rotate: tags signed with an older secret still
verify while that secret is kept in the keyring. Pure: secrets are passed in.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
from dataclasses import dataclass
from uuid import UUID

_LAYOUT = struct.Struct(">B16s16sI")  # key id, tenant, order stream, version
_MAC_BYTES = 16


@dataclass(frozen=True, slots=True)
class TaggedVersion:
    tenant_id: UUID
    aggregate_id: UUID
    version: int


class InvalidVersionTag(ValueError):
    """Not a tag this server issued (forged, truncated, or signed with a retired secret)."""


@dataclass(frozen=True)
class TagKeyring:
    """Secrets by key id; `current` signs, every kept key verifies."""

    secrets: dict[int, bytes]
    current: int

    def issue(self, tenant_id: UUID, aggregate_id: UUID, version: int) -> str:
        payload = _LAYOUT.pack(self.current, tenant_id.bytes, aggregate_id.bytes, version)
        mac = hmac.new(self.secrets[self.current], payload, hashlib.sha256).digest()[:_MAC_BYTES]
        return base64.urlsafe_b64encode(payload + mac).rstrip(b"=").decode("ascii")

    def verify(self, tag: str) -> TaggedVersion:
        try:
            raw = base64.urlsafe_b64decode(tag + "=" * (-len(tag) % 4))
        except (ValueError, TypeError) as error:
            raise InvalidVersionTag("not a version tag") from error
        if len(raw) != _LAYOUT.size + _MAC_BYTES:
            raise InvalidVersionTag("not a version tag")
        payload, mac = raw[: _LAYOUT.size], raw[_LAYOUT.size :]
        key_id, tenant, aggregate, version = _LAYOUT.unpack(payload)
        secret = self.secrets.get(key_id)
        if secret is None:
            raise InvalidVersionTag("signed with a secret that is no longer kept")
        expected = hmac.new(secret, payload, hashlib.sha256).digest()[:_MAC_BYTES]
        if not hmac.compare_digest(mac, expected):
            raise InvalidVersionTag("signature does not match")
        return TaggedVersion(UUID(bytes=tenant), UUID(bytes=aggregate), version)
