"""Schema evolution: a Registered event as the first release stored it reads in the current shape."""

from uuid import uuid4

from eventsourcing.persistence import DatetimeAsISO, DecimalAsStr, JSONTranscoder, Mapper, StoredEvent, UUIDAsHex

from orderledger.domain.order import Order

# Exactly what the first release wrote (no class_version, no received_via).
V1_STATE = (
    b'{"timestamp":{"_type_":"datetime_iso","_data_":"2026-11-01T10:00:00+00:00"},'
    b'"originator_topic":"orderledger.order.Order","tenant_id":"t-1",'
    b'"caused_by":{"command":"RegisterOrder","requestId":"r-1","apiKey":"olk_abcd"},'
    b'"order_id":"O-1","document":{"currency":"SEK","items":[{"sku":"A","quantity":1}]}}'
)


def mapper() -> Mapper:
    transcoder = JSONTranscoder()
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):  # as the Application registers them
        transcoder.register(transcoding)
    return Mapper(transcoder=transcoder)


def test_a_first_release_registered_event_is_upcast_to_version_two():
    event = mapper().to_domain_event(StoredEvent(uuid4(), 1, "orderledger.order.Registered", V1_STATE))
    assert isinstance(event, Order.Registered)
    assert event.received_via == "api" and event.order_id == "O-1"
    order = event.mutate(None)
    assert order.received_via == "api" and order.document["currency"] == "SEK"


def test_the_current_release_stores_its_class_version():
    order = Order.register("t-1", "O-1", {"items": []}, {"command": "test"})
    [event] = order.collect_events()
    stored = mapper().to_stored_event(event)
    assert b'"class_version":2' in stored.state and b'"received_via":"api"' in stored.state
    assert mapper().to_domain_event(stored).received_via == "api"
