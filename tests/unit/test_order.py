"""The Order aggregate: what each command records, and what it refuses."""

import pytest

from orderledger.domain.errors import OrderDeleted
from orderledger.domain.ids import order_aggregate_id
from orderledger.domain.order import Order

CAUSE = {"command": "test"}


def new_order(**document):
    document.setdefault("items", [{"sku": "A", "quantity": 1}])
    order = Order.register("tenant-1", "O-1", document, CAUSE)
    order.collect_events()
    return order


def event_names(order):
    return [type(e).__name__ for e in order.collect_events()]


def test_a_registered_order_is_version_one_with_its_document():
    order = Order.register("tenant-1", "O-1", {"status": "New", "items": []}, CAUSE)
    assert order.version == 1
    assert order.document == {"status": "New", "items": []}
    [registered] = order.collect_events()
    assert isinstance(registered, Order.Registered)
    assert registered.tenant_id == "tenant-1" and registered.caused_by == CAUSE


def test_the_stream_id_derives_from_tenant_and_order_id():
    order = Order.register("tenant-1", "O-1", {}, CAUSE)
    assert order.id == order_aggregate_id("tenant-1", "O-1")
    assert order_aggregate_id("tenant-2", "O-1") != order.id


def test_replace_records_header_and_each_line_change_as_its_own_event():
    order = new_order(status="New", items=[{"sku": "A"}, {"sku": "B"}])
    order.replace({"status": "Paid", "items": [{"sku": "A"}, {"sku": "B2"}, {"sku": "C"}]}, CAUSE)
    assert event_names(order) == ["DetailsChanged", "LineChanged", "LineAdded"]
    assert order.document == {"status": "Paid", "items": [{"sku": "A"}, {"sku": "B2"}, {"sku": "C"}]}


def test_replace_removes_lines_and_fields_the_new_document_lacks():
    order = new_order(status="New", currency="SEK", items=[{"sku": "A"}, {"sku": "B"}, {"sku": "C"}])
    order.replace({"status": "New", "items": [{"sku": "A"}]}, CAUSE)
    assert event_names(order) == ["DetailsChanged", "LineRemoved", "LineRemoved"]
    assert order.document == {"status": "New", "items": [{"sku": "A"}]}


def test_replacing_with_the_same_document_records_nothing():
    order = new_order(status="New")
    order.replace({"status": "New", "items": [{"sku": "A", "quantity": 1}]}, CAUSE)
    assert order.collect_events() == []
    assert order.version == 1


def test_a_deleted_order_refuses_further_changes():
    order = new_order()
    order.delete(CAUSE)
    assert order.is_deleted
    with pytest.raises(OrderDeleted):
        order.change_status({"status": "Paid"}, CAUSE)


def test_events_replayed_rebuild_the_same_order():
    order = new_order(status="New")
    order.change_status({"status": "Shipped"}, CAUSE)
    order.change_delivery({"method": "Post", "trackingNumber": "T1"}, CAUSE)
    replayed = Order.register("tenant-1", "O-1", {"status": "New", "items": [{"sku": "A", "quantity": 1}]}, CAUSE)
    replayed.change_status({"status": "Shipped"}, CAUSE)
    replayed.change_delivery({"method": "Post", "trackingNumber": "T1"}, CAUSE)
    rebuilt = None
    for event in replayed.collect_events():
        rebuilt = event.mutate(rebuilt)
    assert rebuilt.document == order.document and rebuilt.version == order.version == 3
