"""Small helpers for driving the API in integration tests."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from orderledger.jsoncodec import dumps, loads_exact


def an_order(order_id: str, **fields: Any) -> dict[str, Any]:
    """A valid order: totals, taxes and payments consistent (gross 250.00 SEK at 25% VAT)."""
    order = {
        "orderId": order_id,
        "contact": {"matchKey": "anna@example.com", "matchKeyType": "Email"},
        "currency": "SEK",
        "status": "New",
        "state": "draft",
        "items": [
            {"sku": "SKU-1", "quantity": 2, "grossPaidPrice": Decimal("200.00"), "taxPercent": 25, "taxAmount": Decimal("40.00")},
            {"sku": "SKU-2", "quantity": 1, "grossPaidPrice": Decimal("50.00"), "taxPercent": 25, "taxAmount": Decimal("10.00")},
        ],
        "totalGrossPrice": Decimal("250.00"),
        "totalTax": Decimal("50.00"),
        "paymentMethods": [{"type": "card", "value": Decimal("250.00")}],
    }
    order.update(fields)
    return order


class Api:
    """The API as one tenant sees it."""

    def __init__(self, client: Any, key: str) -> None:
        self.client, self.key = client, key

    async def send(self, method: str, path: str, body: Any = None, **headers: str):
        content = None if body is None else (body if isinstance(body, bytes) else dumps(body))
        return await self.client.request(method, f"/api/v3{path}", content=content, headers={"apikey": self.key, **headers})

    async def get_json(self, path: str) -> Any:
        answer = await self.send("GET", path)
        assert answer.status_code == 200, answer.text
        return loads_exact(answer.content)

    async def accepted(self, method: str, path: str, body: Any = None, **headers: str) -> dict[str, Any]:
        answer = await self.send(method, path, body, **headers)
        assert answer.status_code == 202, answer.text
        return answer.json()

    async def job(self, job_id: str) -> dict[str, Any]:
        return await self.get_json(f"/orders/jobs/{job_id}")
