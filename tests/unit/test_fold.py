"""The projection's pure fold: rows from events."""

from orderledger.domain.order import Order
from projections.order_view.fold import fold

CAUSE = {"command": "test"}


def stream():
    order = Order.register("t", "O-1", {"contact": {"matchKey": "a@b.se"}, "items": [{"sku": "A"}]}, CAUSE)
    order.change_status({"status": "Paid"}, CAUSE)
    order.replace({"contact": {"matchKey": "a@b.se"}, "status": "Paid", "items": [{"quantity": 1}]}, CAUSE)
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
