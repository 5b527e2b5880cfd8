"""Business rules of an order document, checked against the tenant's configuration.

Documents are the camelCase dicts of `order_data_to_document`: money is
`Decimal`, enums are their values, absent fields are missing (a `None` value is
treated as missing too, as a merged change may carry one). Every rule reports
all of its violations; nothing stops at the first. Arithmetic is Decimal only.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import MAX_EMAX, MIN_EMIN, ROUND_HALF_EVEN, Context, Decimal, localcontext
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # tenant_config imports Violation from here; only the type is needed
    from orderledger.domain.tenant_config import TenantConfig

Document = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken rule: where (RFC 6901 pointer into the request document), which (stable code), and why."""

    pointer: str
    code: str
    detail: str


_MINOR_UNITS: dict[str, int] = {
    **dict.fromkeys(
        ("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND", "VUV", "XAF",
         "XOF", "XPF"),
        0,
    ),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
    "CLF": 4,
    "UYW": 4,
}

_ZERO = Decimal(0)
_HUNDRED = Decimal(100)
# Sums of long amounts must not round silently, and absurd exponents must
# yield a (reported) mismatch rather than an exception out of a validator.
_CONTEXT = Context(prec=64, Emax=MAX_EMAX, Emin=MIN_EMIN, traps=[])

_ORDER_TOTALS = ("totalGrossPrice", "totalTax", "totalDiscounts", "totalOriginalPrice", "totalItemsPrice",
                 "totalNetPrice")
_FEES = ("freightFee", "handlingFee", "totalRoundOff")
_LINE_AMOUNTS = ("grossPaidPrice", "grossPaidPricePerUnit", "originalPrice", "originalPricePerUnit", "taxAmount",
                 "totalDiscount")


def minor_units(currency: str | None) -> int:
    """Decimal places of the currency's minor unit (ISO 4217); 2 when the currency is unknown or absent."""
    return _MINOR_UNITS.get((currency or "").strip().upper(), 2)


def validate_order(document: Document, config: TenantConfig) -> list[Violation]:
    """Every rule violation of a whole order document, all at once (never stop at the first)."""
    places = minor_units(document.get("currency"))
    with localcontext(_CONTEXT):
        return [
            *_check_numbers(document, places),
            *_check_lines(document, config, places),
            *_check_totals(document, config),
            *_check_statuses(document, config),
        ]


def validate_change(current: Document | None, new: Document, config: TenantConfig) -> list[Violation]:
    """validate_order(new) plus the transition rules from `current` (None for a create).

    On a create a `state`, if present, must be a known state. On a change, a
    `state` or `status` that differs from the current one (removal included)
    must be an allowed transition; an unchanged value is never a transition.
    """
    violations = validate_order(new, config)
    old = current or {}
    violations.extend(_check_state_change(old.get("state"), new.get("state"), config, is_create=current is None))
    if current is not None and config.status_transitions is not None:
        violations.extend(_check_status_change(old.get("status"), new.get("status"), config.status_transitions))
    return violations


# -- numbers ------------------------------------------------------------------


def _number(value: Any) -> Decimal | None:
    """The value as a finite Decimal, or None when absent or unusable (reported by _check_numbers)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        value = Decimal(repr(value))  # the shortest text that reads back as this float, as a client wrote it
    if isinstance(value, Decimal) and value.is_finite():
        return value
    return None


def _decimal_places(value: Decimal) -> int:
    """Significant decimal places: trailing zeros do not count (10.500 has 1)."""
    _, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    if not any(digits):
        return 0
    trailing = len(digits) - len("".join(map(str, digits)).rstrip("0"))
    return max(0, -(exponent + trailing))


def _fmt(value: Decimal) -> str:
    return format(value, "f")


def _dicts(value: Any) -> list[tuple[int, Document]]:
    return [(i, item) for i, item in enumerate(value) if isinstance(item, dict)] if isinstance(value, list) else []


def _amounts(document: Document) -> Iterator[tuple[str, Any]]:
    """(pointer, raw value) of every money amount in the document."""
    for name in _ORDER_TOTALS:
        yield f"/{name}", document.get(name)
    for name in _FEES:
        fee = document.get(name)
        if isinstance(fee, dict):
            yield f"/{name}/value", fee.get("value")
            yield f"/{name}/tax", fee.get("tax")
    for i, detail in _dicts(document.get("taxDetails")):
        yield f"/taxDetails/{i}/value", detail.get("value")
    for i, payment in _dicts(document.get("paymentMethods")):
        yield f"/paymentMethods/{i}/value", payment.get("value")
    for i, line in _dicts(document.get("items")):
        for name in _LINE_AMOUNTS:
            yield f"/items/{i}/{name}", line.get(name)
        for j, discount in _dicts(line.get("discounts")):
            yield f"/items/{i}/discounts/{j}/value", discount.get("value")


def _check_numbers(document: Document, places: int) -> Iterator[Violation]:
    currency = document.get("currency") or "an unknown currency"
    # Quantities and tax percents feed the arithmetic but are not money: no decimal limit.
    factors = [(f"/items/{i}/{name}", line.get(name), False) for i, line in _dicts(document.get("items"))
               for name in ("quantity", "taxPercent")]
    amounts = [(pointer, raw, True) for pointer, raw in _amounts(document)]
    for pointer, raw, is_money in [*amounts, *factors]:
        if raw is None:
            continue
        value = _number(raw)
        if value is None:
            yield Violation(pointer, "number_not_finite", f"{raw!r} is not a finite number")
        elif is_money and _decimal_places(value) > places:
            yield Violation(pointer, "too_many_decimals",
                            f"{_fmt(value)} has {_decimal_places(value)} decimals; {currency} allows {places}")


# -- lines --------------------------------------------------------------------


def _check_lines(document: Document, config: TenantConfig, places: int) -> Iterator[Violation]:
    # Rounding the exact tax to the currency's minor unit may move it by up to
    # half a unit; no tolerance can demand more precision than the currency has.
    tax_tolerance = max(config.rounding_tolerance, Decimal(5).scaleb(-(places + 1)))
    for i, line in _dicts(document.get("items")):
        for j, discount in _dicts(line.get("discounts")):
            yield from _negative(f"/items/{i}/discounts/{j}/value", "discount value", discount.get("value"))
        yield from _negative(f"/items/{i}/totalDiscount", "totalDiscount", line.get("totalDiscount"))
        yield from _check_quantity(i, line)
        yield from _check_line_tax(i, line, tax_tolerance, places)
    yield from _negative("/totalDiscounts", "totalDiscounts", document.get("totalDiscounts"))


def _negative(pointer: str, name: str, raw: Any) -> Iterator[Violation]:
    value = _number(raw)
    if value is not None and value > _ZERO:
        yield Violation(pointer, "discount_not_negative", f"{name} {_fmt(value)} must be zero or negative")


def _check_quantity(index: int, line: Document) -> Iterator[Violation]:
    quantity = _number(line.get("quantity", 1))
    if quantity is None:
        return
    line_type = line.get("type") or "PURCHASE"
    pointer = f"/items/{index}/quantity"
    if line_type == "RETURN" and quantity >= _ZERO:
        yield Violation(pointer, "return_quantity_not_negative",
                        f"a RETURN line must have a negative quantity, not {_fmt(quantity)}")
    elif line_type == "PURCHASE" and quantity <= _ZERO:
        yield Violation(pointer, "purchase_quantity_not_positive",
                        f"a PURCHASE line must have a positive quantity, not {_fmt(quantity)}")


def _check_line_tax(index: int, line: Document, tolerance: Decimal, places: int) -> Iterator[Violation]:
    gross, percent, tax = (_number(line.get(k)) for k in ("grossPaidPrice", "taxPercent", "taxAmount"))
    if gross is None or percent is None or tax is None:
        return
    pointer = f"/items/{index}/taxAmount"
    if percent <= -_HUNDRED:
        yield Violation(pointer, "line_tax_mismatch", f"taxPercent {_fmt(percent)}% leaves no price before tax")
        return
    # gross - gross/(1 + p/100), rewritten with a single division to round once.
    expected = gross * percent / (_HUNDRED + percent)
    if abs(tax - expected) > tolerance:
        shown = expected.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
        yield Violation(pointer, "line_tax_mismatch",
                        f"taxAmount {_fmt(tax)} does not match {_fmt(shown)} "
                        f"(grossPaidPrice {_fmt(gross)} at {_fmt(percent)}%)")


# -- totals -------------------------------------------------------------------


def _sum(values: list[Decimal | None]) -> Decimal | None:
    """The sum, or None when any value is missing (an incomplete sum proves nothing)."""
    return None if any(v is None for v in values) else sum(values, _ZERO)  # type: ignore[arg-type]


def _check_totals(document: Document, config: TenantConfig) -> Iterator[Violation]:
    tolerance = config.rounding_tolerance
    lines = [line for _, line in _dicts(document.get("items"))]
    total_gross = _number(document.get("totalGrossPrice"))
    total_tax = _number(document.get("totalTax"))

    line_tax = _sum([_number(line.get("taxAmount")) for line in lines])
    if config.check_tax_total and total_tax is not None and line_tax is not None:
        if abs(line_tax - total_tax) > tolerance:
            yield Violation("/totalTax", "total_tax_mismatch",
                            f"totalTax {_fmt(total_tax)} does not match {_fmt(line_tax)}, "
                            f"the sum of the lines' taxAmount")

    line_gross = _sum([_number(line.get("grossPaidPrice")) for line in lines])
    if config.check_gross_total and total_gross is not None and line_gross is not None:
        fees = [_fee_value(document.get(name)) for name in _FEES]
        expected = _sum([line_gross, *fees])
        if expected is not None and abs(expected - total_gross) > tolerance:
            yield Violation("/totalGrossPrice", "total_gross_mismatch",
                            f"totalGrossPrice {_fmt(total_gross)} does not match {_fmt(expected)} "
                            f"(lines {_fmt(line_gross)} + freight, handling and round-off "
                            f"{_fmt(expected - line_gross)})")

    payments = [_number(p.get("value")) for _, p in _dicts(document.get("paymentMethods"))]
    paid = _sum(payments)
    if config.check_payments_total and payments and total_gross is not None and paid is not None:
        if abs(paid - total_gross) > tolerance:
            yield Violation("/paymentMethods", "payments_total_mismatch",
                            f"payments sum to {_fmt(paid)}, not totalGrossPrice {_fmt(total_gross)}")


def _fee_value(fee: Any) -> Decimal | None:
    if not isinstance(fee, dict) or fee.get("value") is None:
        return _ZERO
    return _number(fee.get("value"))


# -- statuses and transitions -------------------------------------------------


def _check_statuses(document: Document, config: TenantConfig) -> Iterator[Violation]:
    for field, code, allowed in (("status", "status_not_allowed", config.statuses),
                                 ("paymentStatus", "payment_status_not_allowed", config.payment_statuses)):
        value = document.get(field)
        if value is not None and allowed is not None and value not in allowed:
            yield Violation(f"/{field}", code, f"{field} {value!r} is not one of {', '.join(map(repr, allowed))}")


def _known_states(transitions: dict[str, list[str]]) -> set[str]:
    """Every state a transition table mentions, as a source or a target."""
    return set(transitions).union(*transitions.values())


def _check_state_change(old: Any, new: Any, config: TenantConfig, *, is_create: bool) -> Iterator[Violation]:
    if old == new:
        return
    transitions = config.state_transitions
    if new is not None and new not in _known_states(transitions):
        yield Violation("/state", "unknown_state", f"state {new!r} is not a known state")
    elif not is_create and old is not None and new not in transitions.get(old, []):
        target = "removed" if new is None else f"changed to {new!r}"
        yield Violation("/state", "state_transition_not_allowed",
                        f"state {old!r} cannot be {target}; allowed: {_listing(transitions.get(old, []))}")


def _check_status_change(old: Any, new: Any, transitions: dict[str, list[str]]) -> Iterator[Violation]:
    if old == new or old is None:
        return
    allowed = transitions.get(old, [])
    if new not in allowed:
        target = "removed" if new is None else f"changed to {new!r}"
        yield Violation("/status", "status_transition_not_allowed",
                        f"status {old!r} cannot be {target}; allowed: {_listing(allowed)}")


def _listing(values: list[str]) -> str:
    return ", ".join(map(repr, values)) if values else "none (final)"
