"""The diff of two order versions: header field by field, lines line by line."""

from decimal import Decimal

from orderledger.domain.diff import ADDED, CHANGED, REMOVED, FieldChange, diff_orders, diff_to_builtins


def test_equal_orders_have_an_empty_diff():
    order = {"status": "New", "items": [{"sku": "A"}]}
    assert diff_orders(order, dict(order)).is_empty


def test_header_fields_compare_through_nested_objects_with_json_pointers():
    before = {"status": "New", "customer": {"firstName": "Anna", "email": "a@x.se"}, "currency": "SEK"}
    after = {"status": "Paid", "customer": {"firstName": "Anna", "email": "anna@x.se"}, "channel": "web"}
    assert diff_orders(before, after).header == [
        FieldChange("/status", "New", "Paid"),
        FieldChange("/customer/email", "a@x.se", "anna@x.se"),
        FieldChange("/currency", "SEK", None),
        FieldChange("/channel", None, "web"),
    ]


def test_an_object_that_appears_or_disappears_is_one_change():
    assert diff_orders({}, {"delivery": {"method": "DHL"}}).header == [FieldChange("/delivery", None, {"method": "DHL"})]


def test_lists_other_than_lines_compare_whole():
    before = {"paymentMethods": [{"type": "card", "value": Decimal("10")}]}
    after = {"paymentMethods": [{"type": "card", "value": Decimal("12")}]}
    assert diff_orders(before, after).header == [FieldChange("/paymentMethods", before["paymentMethods"], after["paymentMethods"])]


def test_lines_are_matched_by_position_and_changed_lines_list_their_fields():
    before = {"items": [{"sku": "A", "quantity": 1}, {"sku": "B", "quantity": 1}, {"sku": "C"}]}
    after = {"items": [{"sku": "A", "quantity": 2}, {"sku": "B", "quantity": 1}]}
    diff = diff_orders(before, after)
    assert [(c.index, c.change) for c in diff.items] == [(0, CHANGED), (2, REMOVED)]
    assert diff.items[0].fields == [FieldChange("/quantity", 1, 2)]
    assert diff.items[1].before == {"sku": "C"}
    grown = diff_orders(after, before)
    assert [(c.index, c.change) for c in grown.items] == [(0, CHANGED), (2, ADDED)]


def test_keys_with_slashes_are_escaped_in_pointers():
    diff = diff_orders({"attributes": {"a/b": 1, "c~d": 1}}, {"attributes": {"a/b": 2, "c~d": 2}})
    assert [c.pointer for c in diff.header] == ["/attributes/a~1b", "/attributes/c~0d"]


def test_the_builtin_form_keeps_before_only_for_removed_and_after_only_for_added_lines():
    out = diff_to_builtins(diff_orders({"items": [{"sku": "A"}]}, {"items": [{"sku": "B"}, {"sku": "C"}]}))
    assert out["items"] == [
        {"index": 0, "change": "changed", "fields": [{"pointer": "/sku", "before": "A", "after": "B"}]},
        {"index": 1, "change": "added", "after": {"sku": "C"}},
    ]
