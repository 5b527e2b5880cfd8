"""Reading stored event state: the one-walk msgspec decoding gives exactly what the library's transcoder gives."""

import math
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import (
    DatetimeAsISO, DecimalAsStr, JSONTranscoder, Transcoding, TranscodingNotRegisteredError, UUIDAsHex,
)

from orderledger.domain.personal_data import ERASED
from orderledger.infrastructure.contact_keys import Subject
from orderledger.infrastructure.crypto_shredding import OpeningTranscoder, Sealer
from tests.unit.test_crypto_shredding import MemoryKeys


class DateAsText(Transcoding):
    type = date
    name = "date_text"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class Span:
    def __init__(self, low: int, high: int) -> None:
        self.low, self.high = low, high

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Span) and (self.low, self.high) == (other.low, other.high)

    def __repr__(self) -> str:
        return f"Span({self.low}, {self.high})"


class SpanAsPair(Transcoding):
    """A transcoding whose data is itself a container."""

    type = Span
    name = "span_pair"

    def encode(self, obj: Span) -> list[int]:
        return [obj.low, obj.high]

    def decode(self, data: list[int]) -> Span:
        return Span(*data)


def library_transcoder(*extra: Transcoding) -> JSONTranscoder:
    transcoder = JSONTranscoder()
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO(), *extra):  # as the Application registers them
        transcoder.register(transcoding)
    return transcoder


def the_library_way(transcoder: JSONTranscoder, sealer: Sealer, data: bytes) -> Any:
    state = transcoder.decode(data)
    return sealer.open_all(state) if b'"_sealed_"' in data else state


def same(a: Any, b: Any) -> bool:
    """Equal, and of the same types all the way down (Decimal("2") is not 2, nor 2.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return a == b and repr(a) == repr(b)


def stored_states(sealer: Sealer, transcoder: JSONTranscoder) -> list[bytes]:
    aggregate = uuid4()
    document = {
        "contact": {"matchKey": "anna@example.com", "matchKeyType": "Email"},
        "customer": {"firstName": "Anna", "lastName": "Ångström \u2603 \"quoted\" \\ back", "email": None},
        "shippingAddress": {"street": "Storgatan 1", "country": "SE"},
        "specialInstructions": "leave at the door",
        "currency": "SEK", "totalGrossPrice": Decimal("250.00"), "exchangeRate": Decimal("1E+2"), "zero": Decimal("-0"),
        "createdDate": datetime(2026, 11, 1, 10, 0, tzinfo=timezone.utc),
        "dueDate": datetime(2026, 11, 2, 10, 0, 0, 123456, tzinfo=timezone(timedelta(hours=-5, minutes=-30))),
        "naive": datetime(2026, 11, 3), "reference": uuid4(), "flags": [True, False, None], "empty": {}, "none": [],
        "float": 0.1, "big": 123456789012345678901234567890, "negative": -7,
        "items": [{"sku": "A", "quantity": Decimal("2"), "extraData": {"deep": [[{"x": Decimal("1.5")}]]}}, {"sku": None}],
        "looksLikeOne": {"_type_": "decimal_str", "_data_": "1.0", "more": 1},  # three keys: not a transcoded value
        "justType": {"_type_": "decimal_str"},
    }
    states = [
        {"originator_id": aggregate, "originator_version": 1, "tenant_id": "t-1", "order_id": "O-1",
         "document": document, "timestamp": datetime(2026, 11, 1, tzinfo=timezone.utc), "caused_by": {"command": "c"}},
        {"originator_id": aggregate, "originator_version": 2, "tenant_id": "t-1", "changes": {"status": "Paid"},
         "timestamp": datetime(2026, 11, 1, tzinfo=timezone.utc)},
    ]
    stored = []
    for state in states:
        sealed = dict(sealer.seal_state(state))
        del sealed["originator_id"], sealed["originator_version"]  # the mapper keeps these in columns
        stored.append(transcoder.encode(sealed))
    return stored


def test_stored_states_decode_exactly_as_the_library_decodes_them():
    keys = MemoryKeys()
    sealer, transcoder = Sealer(keys), library_transcoder()
    states = stored_states(sealer, transcoder)
    fast = OpeningTranscoder(transcoder, sealer)
    for data in states:
        assert same(fast.decode(data), the_library_way(transcoder, sealer, data))
    document = fast.decode(states[0])["document"]
    assert document["customer"]["firstName"] == "Anna" and document["totalGrossPrice"] == Decimal("250.00")


def test_an_erased_contact_reads_as_erased():
    keys = MemoryKeys()
    sealer, transcoder = Sealer(keys), library_transcoder()
    states = stored_states(sealer, transcoder)
    keys.erase(Subject.contact("t-1", "anna@example.com"))
    document = OpeningTranscoder(transcoder, sealer).decode(states[0])["document"]
    assert document["customer"]["firstName"] == ERASED and document["contact"]["matchKey"] == ERASED
    assert same(document, the_library_way(transcoder, sealer, states[0])["document"])


@pytest.mark.parametrize("data", [
    b'{"a":NaN,"b":{"_type_":"decimal_str","_data_":"1.5"}}',  # only Python's parser takes NaN
    b'{"a":"\\ud800","b":{"_type_":"datetime_iso","_data_":"2026-11-01T10:00:00+00:00"}}',  # a lone surrogate
    b'{"a":1e400}',  # a float out of range: inf in Python
    b'{"span":{"_type_":"span_pair","_data_":[1,2]}}',  # a transcoded value holding a container
    b'{"span":{"_type_":"span_pair","_data_":[{"_type_":"decimal_str","_data_":"1"},2]}}',  # ... and one inside it
    b'{"when":{"_type_":"date_text","_data_":"2026-11-01"},"n":{"_type_":"decimal_str","_data_":"3"}}',
    b'{"_type_":"decimal_str","_data_":"7"}',  # the state itself a transcoded value
    b'{"odd":{"_type_":"decimal_str","_data_":7}}',  # data that is not a string: the library's own error
])
def test_what_the_fast_way_leaves_alone_reads_as_the_library_reads_it(data):
    sealer, transcoder = Sealer(MemoryKeys()), library_transcoder(SpanAsPair(), DateAsText())
    fast = OpeningTranscoder(transcoder, sealer)
    try:
        expected = the_library_way(transcoder, sealer, data)
    except Exception as error:  # noqa: BLE001  (whatever the library raises, the same is raised)
        with pytest.raises(type(error)):
            fast.decode(data)
        return
    assert same(fast.decode(data), expected)


def test_a_name_no_transcoding_has_fails_as_the_library_fails():
    sealer, transcoder = Sealer(MemoryKeys()), library_transcoder()
    with pytest.raises(TranscodingNotRegisteredError):
        OpeningTranscoder(transcoder, sealer).decode(b'{"x":{"_type_":"nobody","_data_":"1"}}')


def test_uuids_decode_to_uuids():
    sealer, transcoder = Sealer(MemoryKeys()), library_transcoder()
    value = uuid4()
    decoded = OpeningTranscoder(transcoder, sealer).decode(transcoder.encode({"id": value}))
    assert type(decoded["id"]) is UUID and decoded["id"] == value
