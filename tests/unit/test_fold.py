"""The projection's pure fold: rows from events."""

from copy import deepcopy
from datetime import datetime, timezone
from decimal import Decimal

import pytest
from eventsourcing.domain import OriginatorVersionError

from orderledger.domain.order import Order
from projections.order_view.fold import _RULES, fold, fold_with_aggregate

CAUSE = {"command": "test"}


def stream():
    order = Order.register("t", "O-1", {"contact": {"matchKey": "a@b.se"}, "items": [{"sku": "A"}]}, CAUSE)
    order.change_status({"status": "Paid"}, CAUSE)
    order.replace({"contact": {"matchKey": "a@b.se"}, "status": "Paid", "items": [{"quantity": 1}]}, CAUSE)
    return order.collect_events()


def varied_stream():
    """Every kind of event, with exact values and nested data that later events replace or change in place."""
    line = {"sku": "A", "quantity": Decimal("2"), "grossPaidPrice": Decimal("20.50"), "extraData": {"tags": ["x"]}}
    order = Order.register("t", "O-2", {
        "contact": {"matchKey": "a@b.se"}, "customer": {"firstName": "Anna"}, "currency": "SEK", "note": None,
        "createdDate": datetime(2026, 11, 1, 10, tzinfo=timezone.utc), "items": [line, {"sku": "B"}],
    }, CAUSE)
    order.change_details({"currency": "EUR", "customer": None, "reference": "R-1"}, CAUSE)
    order.change_status({"status": "Paid", "state": "confirmed"}, CAUSE)
    order.change_delivery({"method": "DHL", "trackingNumber": "T-1"}, CAUSE)
    order.replace({**order.document, "items": [{**line, "quantity": Decimal("3")}, {"sku": "B"}, {"sku": None}]}, CAUSE)
    order.replace({**order.document, "items": [{"sku": "C"}]}, CAUSE)
    order.change_details({"contact": {"matchKey": "[erased]"}, "items": [{"sku": "D"}]}, CAUSE)
    order.replace({**order.document, "items": [{"sku": "D"}, {"sku": "E"}]}, CAUSE)
    order.delete(CAUSE)
    return order.collect_events()


def test_fold_gives_the_latest_document_and_a_row_per_new_version():
    view, versions = fold(stream(), after_version=1)
    assert view.version == 3 and view.document["status"] == "Paid" and view.contact_key == "a@b.se"
    assert [v.version for v in versions] == [2, 3]
    assert [v.event_type for v in versions] == ["StatusChanged", "LineChanged"]


def test_each_version_carries_the_warnings_of_the_order_it_left():
    _, versions = fold(stream(), after_version=0)
    assert [w["code"] for w in versions[0].warnings] == []
    assert [w["code"] for w in versions[2].warnings] == ["line_without_sku"]


def test_nothing_new_folds_to_none():
    assert fold(stream(), after_version=3) is None
    assert fold([], after_version=0) is None


def test_every_event_type_after_the_first_has_a_rule():
    types = {value for value in vars(Order).values() if isinstance(value, type) and issubclass(value, Order.Event)}
    assert types - {Order.Event, Order.Registered} <= set(_RULES)


def test_the_rules_fold_every_prefix_of_a_varied_history_as_the_aggregate_does():
    events = varied_stream()
    assert {type(e) for e in events[1:]} == set(_RULES)  # the history uses every rule
    for end in range(1, len(events) + 1):
        for after in range(end + 1):
            assert fold(events[:end], after) == fold_with_aggregate(events[:end], after), (end, after)


def test_folding_leaves_the_events_as_they_were():
    events = varied_stream()
    before = [deepcopy(vars(event)) for event in events]
    first = fold(events, 0)
    assert [vars(event) for event in events] == before
    assert fold(events, 0) == first


def test_a_stream_with_a_gap_is_refused_as_the_aggregate_refuses_it():
    events = varied_stream()
    with pytest.raises(OriginatorVersionError):
        fold([events[0], events[2]], 0)
    with pytest.raises(OriginatorVersionError):
        fold_with_aggregate([events[0], events[2]], 0)
