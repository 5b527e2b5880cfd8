"""Order validation and tenant configuration: every rule, its code and its pointer."""

from copy import deepcopy
from decimal import ROUND_CEILING, Decimal

import hypothesis
import hypothesis.strategies as st
import msgspec
import pytest

from orderledger.domain.model import (
    Discount, Fee, LineItem, LineType, OrderData, OrderState, PaymentMethod, order_data_to_document,
)
from orderledger.domain.tenant_config import (
    DEFAULT_CONFIG, TenantConfig, config_from_json, config_to_builtins, validate_config,
)
from orderledger.domain.validation import Violation, minor_units, validate_change, validate_order

D = Decimal


def codes(violations):
    return sorted((v.code, v.pointer) for v in violations)


def example_order(**overrides):
    """A consistent SEK order: a purchase with a discount, a return, fees, a round-off and two payments."""
    document = {
        "items": [
            {"sku": "A", "quantity": D("2"), "type": "PURCHASE", "grossPaidPrice": D("199.90"),
             "taxAmount": D("39.98"), "taxPercent": D("25"), "discounts": [{"value": D("-10")}],
             "totalDiscount": D("-10")},
            {"sku": "B", "quantity": D("-1"), "type": "RETURN", "grossPaidPrice": D("-50.00"),
             "taxAmount": D("-5.36"), "taxPercent": D("12")},
        ],
        "freightFee": {"value": D("49"), "tax": D("9.80")},
        "handlingFee": {"value": D("0")},
        "totalRoundOff": {"value": D("0.10")},
        "paymentMethods": [{"type": "card", "value": D("150")}, {"type": "giftcard", "value": D("49.00")}],
        "totalGrossPrice": D("199.00"),
        "totalTax": D("34.62"),
        "totalDiscounts": D("-10"),
        "status": "Paid",
        "paymentStatus": "Captured",
        "state": "confirmed",
        "currency": "SEK",
    }
    document.update(overrides)
    return document


def config(**fields):
    return TenantConfig(**fields)


# -- the example order and its shape ------------------------------------------


def test_a_consistent_order_has_no_violations():
    assert validate_order(example_order(), DEFAULT_CONFIG) == []


def test_a_json_body_decoded_through_the_model_validates_in_its_stored_shape():
    body = b"""{"currency": "SEK", "totalGrossPrice": 248.90, "totalTax": 39.98, "status": "New",
        "items": [{"sku": "A", "grossPaidPrice": 199.90, "taxAmount": 39.98, "taxPercent": 25}],
        "freightFee": {"value": 49}, "paymentMethods": [{"type": "card", "value": 248.9}]}"""
    document = order_data_to_document(msgspec.json.decode(body, type=OrderData))
    assert "quantity" not in document["items"][0] and "type" not in document["items"][0]
    assert validate_order(document, DEFAULT_CONFIG) == []


def test_none_values_count_as_absent():
    document = example_order(totalTax=None, status=None, freightFee=None, totalGrossPrice=None)
    assert validate_order(document, config(statuses=["New"])) == []


# -- discounts and quantities ---------------------------------------------------


def test_positive_discounts_are_refused_wherever_they_appear():
    document = example_order(totalDiscounts=D("5"))
    document["items"][0]["discounts"] = [{"value": D("0")}, {"value": D("5")}]
    document["items"][0]["totalDiscount"] = D("5")
    assert codes(validate_order(document, DEFAULT_CONFIG)) == [
        ("discount_not_negative", "/items/0/discounts/1/value"),
        ("discount_not_negative", "/items/0/totalDiscount"),
        ("discount_not_negative", "/totalDiscounts"),
    ]


@pytest.mark.parametrize("line, code", [
    ({"type": "RETURN", "quantity": D("1")}, "return_quantity_not_negative"),
    ({"type": "RETURN", "quantity": D("0")}, "return_quantity_not_negative"),
    ({"type": "RETURN"}, "return_quantity_not_negative"),  # a missing quantity is 1
    ({"type": "PURCHASE", "quantity": D("-1")}, "purchase_quantity_not_positive"),
    ({"quantity": D("0")}, "purchase_quantity_not_positive"),  # a missing type is PURCHASE
])
def test_returns_need_a_negative_quantity_and_purchases_a_positive_one(line, code):
    assert codes(validate_order({"items": [line]}, DEFAULT_CONFIG)) == [(code, "/items/0/quantity")]


def test_a_line_with_neither_quantity_nor_type_is_a_purchase_of_one():
    assert validate_order({"items": [{"sku": "A"}]}, DEFAULT_CONFIG) == []


# -- tax ------------------------------------------------------------------------


def test_a_line_tax_off_by_more_than_the_tolerance_is_refused_with_the_numbers():
    document = {"items": [{"grossPaidPrice": D("199.90"), "taxPercent": D("25"), "taxAmount": D("40.00")}]}
    assert validate_order(document, DEFAULT_CONFIG) == [Violation(
        "/items/0/taxAmount", "line_tax_mismatch",
        "taxAmount 40.00 does not match 39.98 (grossPaidPrice 199.90 at 25%)",
    )]


def test_a_line_tax_within_the_tolerance_passes():
    document = {"items": [{"grossPaidPrice": D("199.90"), "taxPercent": D("25"), "taxAmount": D("39.99")}]}
    assert validate_order(document, DEFAULT_CONFIG) == []
    assert codes(validate_order(document, config(rounding_tolerance=D("0")))) == [
        ("line_tax_mismatch", "/items/0/taxAmount")]


def test_line_tax_rounded_to_whole_yen_passes_the_default_tolerance():
    # 1999 at 25% is 399.8 exactly; yen cannot say more than 400.
    document = {"currency": "JPY", "items": [{"grossPaidPrice": D("1999"), "taxPercent": D("25"), "taxAmount": D("400")}]}
    assert validate_order(document, DEFAULT_CONFIG) == []


def test_line_taxes_must_sum_to_the_total_tax():
    violations = validate_order(example_order(totalTax=D("35.00")), DEFAULT_CONFIG)
    assert codes(violations) == [("total_tax_mismatch", "/totalTax")]
    assert "35.00" in violations[0].detail and "34.62" in violations[0].detail


def test_the_total_tax_is_not_checked_when_a_line_has_no_tax_amount_or_the_toggle_is_off():
    document = example_order(totalTax=D("35.00"))
    assert validate_order(document, config(check_tax_total=False)) == []
    del document["items"][1]["taxAmount"]
    assert validate_order(document, DEFAULT_CONFIG) == []


# -- gross and payments ------------------------------------------------------------


def test_the_gross_total_counts_lines_fees_and_round_off():
    violations = validate_order(example_order(totalGrossPrice=D("198.90"), paymentMethods=[]), DEFAULT_CONFIG)
    assert codes(violations) == [("total_gross_mismatch", "/totalGrossPrice")]
    assert "198.90" in violations[0].detail and "199.00" in violations[0].detail


def test_the_gross_total_is_not_checked_when_the_toggle_is_off():
    document = example_order(totalGrossPrice=D("1"), paymentMethods=[])
    assert validate_order(document, config(check_gross_total=False)) == []


def test_payments_must_sum_to_the_gross_total():
    document = example_order(paymentMethods=[{"type": "card", "value": D("150")}])
    violations = validate_order(document, DEFAULT_CONFIG)
    assert codes(violations) == [("payments_total_mismatch", "/paymentMethods")]
    assert "150" in violations[0].detail and "199.00" in violations[0].detail
    assert validate_order(document, config(check_payments_total=False)) == []


def test_an_order_without_payments_is_not_checked_against_them():
    assert validate_order(example_order(paymentMethods=[]), DEFAULT_CONFIG) == []


# -- decimals ---------------------------------------------------------------------


@pytest.mark.parametrize("currency, places", [
    ("SEK", 2), ("EUR", 2), (None, 2), ("XYZ", 2), ("JPY", 0), ("krw", 0), ("ISK", 0), ("CLP", 0), ("VND", 0),
    ("UGX", 0), ("XAF", 0), ("XOF", 0), ("PYG", 0), ("BHD", 3), ("KWD", 3), ("OMR", 3), ("JOD", 3), ("TND", 3),
    ("IQD", 3), ("LYD", 3),
])
def test_minor_units_follow_iso_4217(currency, places):
    assert minor_units(currency) == places


@pytest.mark.parametrize("currency, amount, ok", [
    ("SEK", "10.500", True), ("SEK", "10.505", False), ("SEK", "10", True), ("SEK", "0.000", True),
    ("JPY", "100.0", True), ("JPY", "100.5", False), ("BHD", "1.234", True), ("BHD", "1.2345", False),
    ("SEK", "1E+2", True),
])
def test_money_may_not_have_more_decimals_than_its_currency(currency, amount, ok):
    document = {"currency": currency, "totalItemsPrice": D(amount)}
    expected = [] if ok else [("too_many_decimals", "/totalItemsPrice")]
    assert codes(validate_order(document, DEFAULT_CONFIG)) == expected


def test_every_kind_of_money_amount_is_checked_for_decimals():
    document = {
        "currency": "SEK",
        "items": [{"originalPricePerUnit": D("1.001"), "discounts": [{"value": D("-0.001")}]}],
        "freightFee": {"value": D("1"), "tax": D("0.251")},
        "taxDetails": [{"value": D("0.001")}],
        "paymentMethods": [{"type": "card", "value": D("0.001")}],
        "totalNetPrice": D("0.001"),
    }
    violations = validate_order(document, config(check_payments_total=False))
    assert {v.pointer for v in violations if v.code == "too_many_decimals"} == {
        "/items/0/originalPricePerUnit", "/items/0/discounts/0/value", "/freightFee/tax",
        "/taxDetails/0/value", "/paymentMethods/0/value", "/totalNetPrice",
    }


def test_a_non_finite_number_is_reported_instead_of_breaking_the_arithmetic():
    document = example_order(totalTax=D("NaN"))
    document["items"][0]["grossPaidPrice"] = D("Infinity")
    assert codes(validate_order(document, DEFAULT_CONFIG)) == [
        ("number_not_finite", "/items/0/grossPaidPrice"), ("number_not_finite", "/totalTax")]


# -- statuses and transitions ----------------------------------------------------------


def test_status_and_payment_status_must_be_among_the_configured_values():
    strict = config(statuses=["New", "Shipped"], payment_statuses=["Pending"])
    assert codes(validate_order(example_order(), strict)) == [
        ("payment_status_not_allowed", "/paymentStatus"), ("status_not_allowed", "/status")]
    assert validate_order(example_order(status="New", paymentStatus="Pending"), strict) == []


@pytest.mark.parametrize("old, new, allowed", [
    ("draft", "quotation", True),
    ("draft", "done", False),
    ("quotation", "confirmed", True),
    ("confirmed", "processing", True),
    ("processing", "done", True),
    ("processing", "cancel", True),
    ("draft", "cancel", True),
    ("done", "cancel", False),
    ("cancel", "draft", False),
    ("confirmed", "quotation", False),
    ("done", "done", True),  # staying is not a transition
])
def test_the_default_state_flow_is_cloudsuites(old, new, allowed):
    violations = validate_change(example_order(state=old), example_order(state=new), DEFAULT_CONFIG)
    assert codes(violations) == ([] if allowed else [("state_transition_not_allowed", "/state")])


def test_removing_the_state_is_a_transition_too():
    current = example_order(state="processing")
    new = {k: v for k, v in current.items() if k != "state"}
    assert codes(validate_change(current, new, DEFAULT_CONFIG)) == [("state_transition_not_allowed", "/state")]


def test_a_create_needs_a_known_state_if_it_has_one():
    assert validate_change(None, example_order(state="processing"), DEFAULT_CONFIG) == []
    assert validate_change(None, example_order(state=None), DEFAULT_CONFIG) == []
    assert codes(validate_change(None, example_order(state="shipped"), DEFAULT_CONFIG)) == [("unknown_state", "/state")]
    assert codes(validate_change(example_order(), example_order(state="shipped"), DEFAULT_CONFIG)) == [
        ("unknown_state", "/state")]


def test_a_create_is_checked_as_a_whole_order():
    assert codes(validate_change(None, example_order(status="Paid"), config(statuses=["New"]))) == [
        ("status_not_allowed", "/status")]


def test_status_changes_follow_the_configured_transitions():
    flow = config(status_transitions={"New": ["Paid"], "Paid": ["Shipped"], "Shipped": []})
    assert validate_change(example_order(status="New"), example_order(status="Paid"), flow) == []
    assert validate_change(example_order(status="Shipped"), example_order(status="Shipped"), flow) == []
    assert codes(validate_change(example_order(status="Paid"), example_order(status="New"), flow)) == [
        ("status_transition_not_allowed", "/status")]
    assert codes(validate_change(example_order(status="Odd"), example_order(status="Paid"), flow)) == [
        ("status_transition_not_allowed", "/status")]
    assert validate_change(example_order(status="Paid"), example_order(status="New"), DEFAULT_CONFIG) == []


def test_every_violation_is_reported_at_once():
    document = example_order(totalTax=D("1"), totalGrossPrice=D("1"), totalDiscounts=D("1"), status="Odd",
                             state="done", totalNetPrice=D("0.001"))
    document["items"][0]["taxAmount"] = D("1")
    document["items"][1]["quantity"] = D("1")
    violations = validate_change(example_order(state="draft"), document, config(statuses=["Paid"]))
    assert {v.code for v in violations} == {
        "too_many_decimals", "discount_not_negative", "return_quantity_not_negative", "line_tax_mismatch",
        "total_tax_mismatch", "total_gross_mismatch", "payments_total_mismatch", "status_not_allowed",
        "state_transition_not_allowed",
    }


# -- tenant configuration -----------------------------------------------------------------


def test_the_default_configuration_is_valid_and_round_trips_through_json():
    assert validate_config(DEFAULT_CONFIG) == []
    builtins = config_to_builtins(DEFAULT_CONFIG)
    assert builtins["roundingTolerance"] == D("0.01") and builtins["checkTaxTotal"] is True
    assert config_from_json(msgspec.json.encode(builtins)) == DEFAULT_CONFIG
    assert config_from_json(b"{}") == DEFAULT_CONFIG
    assert config_from_json(b'{"roundingTolerance": 0.5}').rounding_tolerance == D("0.5")


def test_a_configuration_with_unknown_fields_is_refused():
    with pytest.raises(msgspec.ValidationError, match="unknownField"):
        config_from_json(b'{"unknownField": 1}')


def test_a_configuration_is_frozen():
    with pytest.raises(AttributeError):
        DEFAULT_CONFIG.check_tax_total = False  # type: ignore[misc]


def test_nonsense_configurations_are_refused_with_pointers():
    nonsense = config_from_json(b"""{
        "roundingTolerance": -0.01,
        "stateTransitions": {"draft": ["shipped", "done"], "limbo": []},
        "statuses": ["New", "Paid"],
        "statusTransitions": {"New": ["Paid", "Lost/Found"], "Gone": []}
    }""")
    assert codes(validate_config(nonsense)) == [
        ("negative_tolerance", "/roundingTolerance"),
        ("unknown_state", "/stateTransitions/draft/0"),
        ("unknown_state", "/stateTransitions/limbo"),
        ("unknown_status", "/statusTransitions/Gone"),
        ("unknown_status", "/statusTransitions/New/1"),
        ("unknown_transition_target", "/stateTransitions/draft/1"),
    ]
    assert codes(validate_config(config(rounding_tolerance=D("NaN")))) == [("tolerance_not_finite", "/roundingTolerance")]


def test_status_transitions_are_free_form_when_no_statuses_are_listed():
    assert validate_config(config(status_transitions={"Anything": ["Goes"]})) == []


# -- properties ------------------------------------------------------------------------------

CURRENCIES = ["SEK", "EUR", "JPY", "KRW", "BHD", "KWD"]


def unit_of(currency):
    return D(1).scaleb(-minor_units(currency))


@st.composite
def consistent_orders(draw):
    """An order whose every amount agrees, built through the model so the document has its stored shape."""
    currency = draw(st.sampled_from(CURRENCIES))
    unit = unit_of(currency)

    def money(low, high):
        return draw(st.integers(low, high)) * unit

    lines = []
    for index in range(draw(st.integers(1, 5))):
        sign = draw(st.sampled_from([1, -1]))
        gross = sign * money(0, 10**7)
        percent = D(draw(st.sampled_from([0, 6, 12, 25])))
        discounts = [Discount(value=-money(0, 10**5)) for _ in range(draw(st.integers(0, 2)))]
        lines.append(LineItem(
            sku=f"SKU-{index}",
            quantity=D(sign * draw(st.integers(1, 5))),
            type=LineType.PURCHASE if sign > 0 else LineType.RETURN,
            gross_paid_price=gross,
            tax_percent=percent,
            tax_amount=(gross * percent / (100 + percent)).quantize(unit),
            discounts=discounts or None,
            total_discount=sum((d.value for d in discounts), D(0)) if discounts else None,
        ))
    fees = {name: Fee(value=money(0, 10**5)) for name in ("freight_fee", "handling_fee") if draw(st.booleans())}
    if draw(st.booleans()):
        fees["total_round_off"] = Fee(value=money(-99, 99))
    total_gross = sum((line.gross_paid_price for line in lines), D(0)) + sum((f.value for f in fees.values()), D(0))
    parts = [money(-10**5, 10**6) for _ in range(draw(st.integers(0, 2)))]
    payments = [*parts, total_gross - sum(parts, D(0))]
    data = OrderData(
        currency=currency,
        items=lines,
        **fees,
        payment_methods=[PaymentMethod(type=f"method-{i}", value=value) for i, value in enumerate(payments)],
        total_gross_price=total_gross,
        total_tax=sum((line.tax_amount for line in lines), D(0)),
        total_discounts=sum((line.total_discount or D(0) for line in lines), D(0)),
        status=draw(st.sampled_from(["New", "Paid", "Shipped"])),
        state=draw(st.sampled_from(list(OrderState))),
    )
    return order_data_to_document(data)


# No example database: unit tests leave no files behind.
FEW = hypothesis.settings(max_examples=150, deadline=None, database=None)


@FEW
@hypothesis.given(consistent_orders())
def test_any_consistent_order_has_no_violations(document):
    assert validate_order(document, DEFAULT_CONFIG) == []
    assert validate_change(document, deepcopy(document), DEFAULT_CONFIG) == []


@FEW
@hypothesis.given(consistent_orders(), st.sampled_from(["line tax", "total tax", "total gross", "payment"]), st.data())
def test_one_amount_off_by_more_than_the_tolerance_yields_exactly_its_violation(document, target, data):
    unit = unit_of(document["currency"])
    # The line rule allows tolerance plus half a unit of rounding; go past both.
    tax_tolerance = max(DEFAULT_CONFIG.rounding_tolerance, unit / 2)
    least = ((tax_tolerance + unit / 2) / unit).to_integral_value(rounding=ROUND_CEILING) * unit + unit
    bump = (least + data.draw(st.integers(0, 1000)) * unit) * data.draw(st.sampled_from([1, -1]))
    if target == "line tax":
        index = data.draw(st.integers(0, len(document["items"]) - 1))
        document["items"][index]["taxAmount"] += bump
        document["totalTax"] += bump  # keep the sum agreeing, so only the line is wrong
        expected = [("line_tax_mismatch", f"/items/{index}/taxAmount")]
    elif target == "total tax":
        document["totalTax"] += bump
        expected = [("total_tax_mismatch", "/totalTax")]
    elif target == "total gross":
        document["totalGrossPrice"] += bump
        document["paymentMethods"][0]["value"] += bump  # payments follow the total, so only the total is wrong
        expected = [("total_gross_mismatch", "/totalGrossPrice")]
    else:
        index = data.draw(st.integers(0, len(document["paymentMethods"]) - 1))
        document["paymentMethods"][index]["value"] += bump
        expected = [("payments_total_mismatch", "/paymentMethods")]
    assert codes(validate_order(document, DEFAULT_CONFIG)) == expected
