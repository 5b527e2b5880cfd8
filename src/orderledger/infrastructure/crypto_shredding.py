"""Crypto-shredding: personal values are sealed in the stored events with their subject's key.

The event store's mapper seals every personal leaf (domain/personal_data.py)
of an event's `document` or `changes` before the event is written, and the
transcoder opens every sealed value when an event is read, so the aggregate,
the projections, the history API and exports see clear values, or `ERASED`
where the key has been destroyed. Reading erased data is never an error.

What stays in clear JSON: the tenant, the order id, amounts, skus, statuses,
dates, the command's metadata. Job status and the sweeper read `tenant_id` and
`order_id` straight from the stored JSON; the tenant feed filters on `tenant_id`.

A sealed value is `{"_sealed_": base64url(alg | key id | nonce | ciphertext)}`.
`alg` names the cipher (1 = AES-256-GCM), so a later cipher can be added while
old values stay readable. The key id is authenticated with the value.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any, Protocol
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.persistence import JSONTranscoder, Mapper, Transcoder

from orderledger.domain.personal_data import ERASED, contact_key_of, has_personal_data, map_personal
from orderledger.infrastructure.contact_keys import ContactKeys, Subject
from orderledger.infrastructure.state_decoding import SEALED, Unusual, decode_state, decoders
from orderledger.jsoncodec import dumps, loads_exact

SEALED_MARK = b'"_sealed_"'
# The first 24 base64 characters of a sealed value: its algorithm and key id (18 bytes, of which 17 are used).
_ENVELOPE_HEAD = re.compile(rb'"_sealed_":"([A-Za-z0-9_-]{24})')
AES_GCM = 1
PREFERRED_ALG = AES_GCM
_NONCE_BYTES = 12


class SealBroken(ValueError):
    """A sealed value failed authentication: it was altered, or sealed under another key."""


class NoDataSubject(RuntimeError):
    """An event with personal data was saved without knowing whose it is (a save outside OrderLedger.save)."""


# -- the cipher ------------------------------------------------------------------


def _seal_bytes(alg: int, key: bytes, nonce: bytes, plain: bytes, aad: bytes) -> bytes:
    if alg != AES_GCM:
        raise ValueError(f"unknown seal algorithm {alg}")
    return AESGCM(key).encrypt(nonce, plain, aad)


def _open_bytes(alg: int, key: bytes, nonce: bytes, sealed: bytes, aad: bytes) -> bytes:
    if alg != AES_GCM:
        raise SealBroken(f"unknown seal algorithm {alg}")
    try:
        return AESGCM(key).decrypt(nonce, sealed, aad)
    except InvalidTag as error:
        raise SealBroken("sealed value failed authentication") from error


# -- sealing and opening values ---------------------------------------------------


class Sealer:
    """Seals the personal leaves of stored event state with the subject's key; opens any sealed value."""

    def __init__(self, keys: ContactKeys, alg: int = PREFERRED_ALG) -> None:
        self.keys = keys
        self.alg = alg
        self._hints = threading.local()

    @contextmanager
    def subjects(self, hints: dict[tuple[UUID, int], str | None]) -> Iterator[None]:
        """Within this block (on this thread), the contact each pending event's personal data belongs to.

        Keyed by (stream id, version). Only a header change that does not itself
        name the contact needs it: its data belongs to the order's contact then.
        """
        self._hints.value = hints
        try:
            yield
        finally:
            self._hints.value = None

    def seal_state(self, state: dict[str, Any]) -> dict[str, Any]:
        """The stored form of an event's state: the same dict when nothing in it is personal."""
        sealed = state
        for name in ("document", "changes"):
            part = state.get(name)
            if isinstance(part, dict) and has_personal_data(part):
                subject = self._subject(state, part, name)
                key_id, key = self.keys.live_key(subject)
                sealed = {**sealed, name: map_personal(part, partial(self.seal_value, key_id, key))}
        snapshot = state.get("state")
        if isinstance(snapshot, dict) and isinstance(snapshot.get("document"), dict):
            inner = self.seal_state({**snapshot, "originator_id": state["originator_id"]})
            inner.pop("originator_id")
            sealed = {**sealed, "state": inner}
        return sealed

    def _subject(self, state: dict[str, Any], part: dict[str, Any], name: str) -> Subject:
        tenant, aggregate_id = str(state["tenant_id"]), state["originator_id"]
        if name == "document" or "contact" in part:
            # The document (or a change that sets the contact) says whose data it is.
            contact = contact_key_of(part)
        else:
            hints = getattr(self._hints, "value", None) or {}
            marker = (aggregate_id, state["originator_version"])
            if marker not in hints:
                raise NoDataSubject(f"order {aggregate_id} v{marker[1]}: save it through OrderLedger.save")
            contact = hints[marker]
        return Subject.contact(tenant, contact) if contact else Subject.order(tenant, aggregate_id)

    def seal_value(self, key_id: UUID, key: bytes, value: Any) -> dict[str, str]:
        nonce = os.urandom(_NONCE_BYTES)
        head = bytes([self.alg]) + key_id.bytes
        sealed = _seal_bytes(self.alg, key, nonce, dumps(value), head)
        return {SEALED: base64.urlsafe_b64encode(head + nonce + sealed).decode().rstrip("=")}

    def open_value(self, envelope: str) -> Any:
        raw = base64.urlsafe_b64decode(envelope + "=" * (-len(envelope) % 4))
        head, nonce, sealed = raw[:17], raw[17:17 + _NONCE_BYTES], raw[17 + _NONCE_BYTES:]
        key = self.keys.key(UUID(bytes=head[1:17]))
        if key is None:
            return ERASED
        return loads_exact(_open_bytes(head[0], key, nonce, sealed, head))

    def prefetch_keys(self, stored_states: Iterable[bytes]) -> None:
        """Load, in one query, the keys that these stored event states were sealed with."""
        ids = {UUID(bytes=base64.urlsafe_b64decode(m)[1:17]) for state in stored_states for m in _ENVELOPE_HEAD.findall(state)}
        if ids:
            self.keys.prefetch(ids)

    def open_all(self, value: Any) -> Any:
        """`value` with every sealed value inside it opened (or ERASED)."""
        return _open_all(value, self.open_value)


_NOT_HELD: Any = object()


class HeldKeys:
    """Opens sealed values for one bulk read, looking each key up once for the whole read.

    Only for a reader that holds the rebuild-or-erasure lock (projections/locks.py):
    no key can be destroyed meanwhile, so a key looked up once stays right until
    the read ends, where the shared cache (ContactKeys) would look it up again
    every CACHE_SECONDS, one query per key, in the middle of a page. Keys are
    looked up a page at a time (`prefetch_keys`); at most `max_keys` are held.
    """

    def __init__(self, keys: ContactKeys, max_keys: int = 100_000) -> None:
        self.keys, self._max = keys, max_keys
        self._ciphers: dict[bytes, AESGCM | None] = {}  # by alg and key id (an envelope's first 17 bytes)

    def prefetch_keys(self, stored_states: Iterable[bytes]) -> None:
        """Look up, in one query, the keys of these stored states that are not held yet."""
        found = {m for state in stored_states for m in _ENVELOPE_HEAD.findall(state)}
        heads = {binascii.a2b_base64(m.translate(_URL_SAFE))[:17] for m in found}
        missing = [head for head in heads if head not in self._ciphers]
        if not missing:
            return
        if len(self._ciphers) + len(missing) > self._max:
            self._ciphers.clear()
            missing = list(heads)
        self.keys.prefetch(UUID(bytes=head[1:17]) for head in missing)
        for head in missing:
            self._hold(head)

    def _hold(self, head: bytes) -> AESGCM | None:
        key = self.keys.key(UUID(bytes=head[1:17]))
        cipher = None if key is None else AESGCM(key)
        self._ciphers[head] = cipher
        return cipher

    def open_value(self, envelope: str) -> Any:
        raw = _unbase64(envelope)
        head = raw[:17]
        if head[0] != AES_GCM:
            raise SealBroken(f"unknown seal algorithm {head[0]}")
        cipher = self._ciphers.get(head, _NOT_HELD)
        if cipher is _NOT_HELD:
            cipher = self._hold(head)
        if cipher is None:
            return ERASED
        try:
            return loads_exact(cipher.decrypt(raw[17:17 + _NONCE_BYTES], raw[17 + _NONCE_BYTES:], head))
        except InvalidTag as error:
            raise SealBroken("sealed value failed authentication") from error

    def open_all(self, value: Any) -> Any:
        return _open_all(value, self.open_value)


_URL_SAFE = bytes.maketrans(b"-_", b"+/")


def _unbase64(envelope: str) -> bytes:
    """base64.urlsafe_b64decode of an unpadded envelope, without its layers of Python (bulk reads open many)."""
    return binascii.a2b_base64(envelope.encode().translate(_URL_SAFE) + b"=" * (-len(envelope) % 4))


def _open_all(value: Any, open_value: Callable[[str], Any]) -> Any:
    if isinstance(value, dict):
        if len(value) == 1 and SEALED in value:
            return open_value(value[SEALED])
        return {k: _open_all(v, open_value) for k, v in value.items()}
    if isinstance(value, list):
        return [_open_all(v, open_value) for v in value]
    return value


class Opener(Protocol):
    def open_value(self, envelope: str) -> Any: ...

    def open_all(self, value: Any) -> Any: ...


class OpeningTranscoder(Transcoder):
    """The library's JSON transcoder, opening sealed values as it decodes.

    Decodes with msgspec in one walk (state_decoding.py) when the inner transcoder
    is the library's JSON one; the library's own path for anything else.
    """

    def __init__(self, inner: Transcoder, sealer: Opener) -> None:
        self.inner, self.sealer = inner, sealer
        self._decoders = decoders(inner.names) if isinstance(inner, JSONTranscoder) else None

    def encode(self, obj: Any) -> bytes:
        return self.inner.encode(obj)

    def decode(self, data: bytes) -> Any:
        if self._decoders is not None:
            try:
                return decode_state(data, self._decoders, self.sealer.open_value)
            except Unusual:
                pass
        state = self.inner.decode(data)
        return self.sealer.open_all(state) if SEALED_MARK in data else state


class OpeningMapper(Mapper[UUID]):
    """The library's mapper, opening sealed values on the way out of the store (reads only)."""

    def __init__(self, transcoder: Transcoder, opener: Opener) -> None:
        super().__init__(transcoder=OpeningTranscoder(transcoder, opener))
        self.sealer = opener


class SealingMapper(OpeningMapper):
    """The library's mapper, sealing personal values on the way into the store."""

    sealer: Sealer

    def holding_keys(self) -> OpeningMapper:
        """A mapper for one bulk read under the rebuild-or-erasure lock: see HeldKeys."""
        return OpeningMapper(self.transcoder.inner, HeldKeys(self.sealer.keys))  # type: ignore[attr-defined]

    def to_stored_event(self, domain_event: Any) -> Any:
        state = vars(domain_event)
        sealed = self.sealer.seal_state(state)
        if sealed is not state:
            # The library maps an event from its class and its __dict__; give it a twin holding the sealed state,
            # leaving the aggregate's own event untouched.
            twin = object.__new__(type(domain_event))
            object.__setattr__(twin, "__dict__", sealed)
            domain_event = twin
        return super().to_stored_event(domain_event)


# -- wiring into the application ---------------------------------------------------


class SealsPersonalData:
    """Mixin for the eventsourcing Application: a sealing mapper, and `save` telling it whose data each event holds."""

    def construct_mapper(self) -> Mapper[UUID]:
        keys = ContactKeys(self.factory.datastore.get_connection)  # type: ignore[attr-defined]
        return SealingMapper(self.construct_transcoder(), Sealer(keys))  # type: ignore[attr-defined]

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        return self.save_sealed(objs, pending_subjects(objs), **kwargs)

    def save_sealed(self, objs: Any, subjects: dict[tuple[UUID, int], str | None], **kwargs: Any) -> Any:
        """Save aggregates or events, with `subjects` naming whose data each event holds (see pending_subjects).

        Group commit collects the subjects of each command's aggregate before
        handing on its events, then saves many commands' events at once here.
        """
        with self.mapper.sealer.subjects(subjects):  # type: ignore[attr-defined]
            return super().save(*objs, **kwargs)  # type: ignore[misc]


def pending_subjects(objs: Any) -> dict[tuple[UUID, int], str | None]:
    """For each pending event of each order, the contact its personal data belongs to.

    An order's document is already as its last pending event left it, so going
    backwards from it, each event belongs to the contact in force after it,
    until an event that sets the contact: before that one, the contact is not
    known here, and an earlier event that needs it fails to save (NoDataSubject)
    rather than be sealed under the wrong key. Commands record at most one header
    event per save, so this never happens in practice.
    """
    hints: dict[tuple[UUID, int], str | None] = {}
    for obj in objs:
        events, document = getattr(obj, "pending_events", None), getattr(obj, "document", None)
        if not events or not isinstance(document, dict):
            continue
        current: str | None = contact_key_of(document)
        for event in reversed(events):
            hints[(event.originator_id, event.originator_version)] = current
            changes = getattr(event, "changes", None)
            if hasattr(event, "document") or (isinstance(changes, dict) and "contact" in changes):
                break
    return hints
