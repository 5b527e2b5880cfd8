"""One subscriber notification per command, of the right kind, carrying an embedded action."""

from decimal import Decimal

from orderledger.domain.order import Order
from orderledger.domain.order_changes import order_changes


def cause(request: str, action: dict | None = None) -> dict:
    caused = {"command": "X", "requestId": request, "apiKey": "olk_"}
    if action:
        caused["action"] = action
    return caused


def events_of(order: Order) -> list:
    return order.collect_events()


def test_a_replace_of_header_and_lines_is_one_update_about_its_last_version():
    order = Order.register("t", "1", {"items": [{"sku": "A"}]}, cause("r1"))
    order.replace({"status": None, "currency": "SEK", "items": [{"sku": "B"}, {"sku": "C"}]}, cause("r2"))
    changes = order_changes(events_of(order))
    assert [(c.kind, c.version) for c in changes] == [("order.created", 1), ("order.updated", 4)]


def test_status_changes_and_deletes_are_named_as_such():
    order = Order.register("t", "1", {"items": []}, cause("r1"))
    order.change_status({"status": "Paid"}, cause("r2"))
    order.replace({"state": "confirmed", "items": []}, cause("r3"))  # a status field, through a replace
    order.change_delivery({"method": "DHL"}, cause("r4"))
    order.delete(cause("r5"))
    kinds = [c.kind for c in order_changes(events_of(order))]
    assert kinds == ["order.created", "order.status_changed", "order.status_changed", "order.updated", "order.deleted"]


def test_an_embedded_action_belongs_to_its_command_s_last_version():
    action = {"id": "a1", "action": "ConfirmOrder", "language": "sv-SE", "data": {"amount": Decimal("1.50")}}
    order = Order.register("t", "1", {"items": []}, cause("r1"))
    order.replace({"currency": "SEK", "items": [{"sku": "A"}]}, cause("r2", action))
    changes = order_changes(events_of(order))
    assert changes[0].embedded_action is None
    assert changes[1].version == 3 and changes[1].embedded_action == action
