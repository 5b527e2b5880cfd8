"""The canonical order: Voyado Engage's order model, with a home for vCX and CloudSuite fields.

Field names on the wire are Voyado's camelCase. CloudSuite's fields keep their
own snake_case names (`state`, `payment_status`, `shipment_state`,
`erp_order_number`, `erp_line_number`, `confirm_date`) because integrators send
them that way. Money is `Decimal` end to end: JSON numbers are parsed exactly
and written back as numbers, never through float.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any

import msgspec


class Wire(msgspec.Struct, rename="camel", omit_defaults=True, forbid_unknown_fields=True):
    """Base for every order structure: camelCase on the wire, unknown fields refused."""


class LineType(str, Enum):
    PURCHASE = "PURCHASE"
    RETURN = "RETURN"


class OrderState(str, Enum):
    """CloudSuite's order states."""

    DRAFT = "draft"
    QUOTATION = "quotation"
    CONFIRMED = "confirmed"
    PROCESSING = "processing"
    DONE = "done"
    CANCEL = "cancel"


class PaymentState(str, Enum):
    """CloudSuite's payment states."""

    STARTED = "started"
    PAID = "paid"
    CLOSED_SUCCESS = "closed_success"
    CLOSED_CANCELED = "closed_canceled"
    ACCOUNT = "account"
    NONE = "none"


class Contact(Wire):
    match_key: str
    match_key_type: str = "Email"


class Customer(Wire):
    """vCX customer details; personal data."""

    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None


class Address(Wire):
    name: str | None = None
    company: str | None = None
    street: str | None = None
    street2: str | None = None
    postal_code: str | None = None
    city: str | None = None
    region: str | None = None
    country: str | None = None
    phone: str | None = None


class Discount(Wire):
    value: Decimal
    type: str | None = None
    description: str | None = None


class Fee(Wire):
    value: Decimal
    tax: Decimal | None = None
    tax_percent: Decimal | None = None


class TaxDetail(Wire):
    value: Decimal
    tax_percent: Decimal | None = None
    description: str | None = None


class PaymentMethod(Wire):
    type: str
    value: Decimal
    description: str | None = None
    reference: str | None = None
    extra_data: dict[str, Any] | None = None


class Delivery(Wire):
    method: str | None = None
    tracking_number: str | None = None
    tracking_uri: str | None = None
    delivery_date: datetime | None = None


class LineItem(Wire):
    sku: str | None = None
    quantity: Decimal = Decimal(1)
    type: LineType = LineType.PURCHASE
    line_id: str | None = None
    gross_paid_price: Decimal | None = None
    gross_paid_price_per_unit: Decimal | None = None
    original_price: Decimal | None = None
    original_price_per_unit: Decimal | None = None
    tax_amount: Decimal | None = None
    tax_percent: Decimal | None = None
    total_discount: Decimal | None = None
    discounts: list[Discount] | None = None
    description: str | None = None
    image_url: str | None = None
    target_url: str | None = None
    product_id: str | None = None
    erp_line_number: str | None = msgspec.field(default=None, name="erp_line_number")
    extra_data: dict[str, Any] | None = None


class StatusFields(Wire):
    """The status fields: Voyado's status, externalStatus and paymentStatus, CloudSuite's state,
    payment_status and shipment_state. Part of every order, and the body of change-status."""

    status: str | None = None
    external_status: str | None = None
    payment_status: str | None = None
    state: OrderState | None = msgspec.field(default=None, name="state")
    cloudsuite_payment_status: PaymentState | None = msgspec.field(default=None, name="payment_status")
    shipment_state: str | None = msgspec.field(default=None, name="shipment_state")


class OrderData(StatusFields):
    """Everything an order holds except its identity (tenant and orderId)."""

    contact: Contact | None = None
    reference: str | None = None
    references: list[str] | None = None
    erp_order_number: str | None = msgspec.field(default=None, name="erp_order_number")
    company_id: str | None = None
    currency: str | None = None
    exchange_rate_to_group_currency: Decimal | None = None
    channel: str | None = None
    store_id: str | None = None
    language: str | None = None
    created_date: datetime | None = None
    shipping_date: datetime | None = None
    status_changed_date: datetime | None = None
    confirm_date: datetime | None = msgspec.field(default=None, name="confirm_date")
    due_date: datetime | None = None
    customer: Customer | None = None
    shipping_address: Address | None = None
    billing_address: Address | None = None
    special_instructions: str | None = None
    payment_reference: str | None = None
    items: list[LineItem] = []
    tax_details: list[TaxDetail] | None = None
    payment_methods: list[PaymentMethod] | None = None
    freight_fee: Fee | None = None
    handling_fee: Fee | None = None
    total_round_off: Fee | None = None
    total_gross_price: Decimal | None = None
    total_tax: Decimal | None = None
    total_discounts: Decimal | None = None
    total_original_price: Decimal | None = None
    total_items_price: Decimal | None = None
    total_net_price: Decimal | None = None
    any_return_items: bool | None = None
    delivery: Delivery | None = None
    delivery_status: str | None = None
    attributes: dict[str, Any] | None = None
    extra_data: dict[str, Any] | None = None


ActionName = Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=r"^[^\s\x00-\x1f]+$",
                                          description="The tenant's name for the automation, e.g. ConfirmOrder")]
Language = Annotated[str, msgspec.Meta(min_length=1, max_length=35, description="e.g. sv-SE")]


class EmbeddedAction(Wire):
    """`"action": {...}` in a create or replace: runs once the version that command produces is processed."""

    action: ActionName
    language: Language | None = None
    data: dict[str, Any] | None = None


class OrderIn(OrderData):
    """A create or replace body: the order data plus its id, and optionally an action to run on the result."""

    order_id: str = ""
    action: EmbeddedAction | None = None


def order_data_to_document(data: OrderData) -> dict[str, Any]:
    """The order data as the plain dict stored in events (Decimals and datetimes kept exact)."""
    document = msgspec.to_builtins(data, builtin_types=(Decimal, datetime))
    document.pop("orderId", None)
    document.pop("action", None)  # a request about the order, not part of it
    return document


def normalise_document(document: dict[str, Any]) -> dict[str, Any]:
    """Check a document built by merging (PATCH) against the model and bring it to stored form.

    Raises msgspec.ValidationError, with the path of the offending field, if it does not fit.
    """
    return order_data_to_document(msgspec.convert(document, OrderData))


class StatusChange(StatusFields):
    """The body of change-status: any of the status fields (at least one), and when they changed."""

    status_changed_date: datetime | None = None
