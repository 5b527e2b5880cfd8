"""The served OpenAPI document describes every command's body, its answers and its error codes."""

import pytest

from orderledger.api.app import create_app
from orderledger.settings import Settings


@pytest.fixture(scope="module")
def schema():
    # Building the document needs no servers: connections open only when the app starts.
    app = create_app(Settings(database_url="postgresql://nobody@127.0.0.1:1/none", redis_url="redis://127.0.0.1:1"))
    return app.openapi_schema.to_schema()


CHANGES = ("400", "401", "404", "409", "422")
COMMANDS = [
    ("/api/v3/orders", "post", "OrderIn", ("400", "401", "409", "422")),
    ("/api/v3/orders/{order_id}", "put", "OrderIn", CHANGES),
    ("/api/v3/orders/{order_id}", "post", "OrderIn", CHANGES),
    ("/api/v3/orders/{order_id}", "patch", "OrderData", CHANGES),
    ("/api/v3/orders/{order_id}/change-status", "post", "StatusChange", CHANGES),
    ("/api/v3/orders/{order_id}/change-delivery", "post", "Delivery", ("400", "401", "404", "409")),
]


@pytest.mark.parametrize(("path", "method", "body", "statuses"), COMMANDS)
def test_every_command_documents_its_body_and_answers(schema, path, method, body, statuses):
    operation = schema["paths"][path][method]
    assert operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(f"/{body}")
    assert operation["responses"]["202"]["content"]["application/json"]["schema"]["$ref"].endswith("/JobAccepted")
    for status in statuses:
        problem = operation["responses"][status]
        assert "application/problem+json" in problem["content"] and "code:" in problem["description"]


def test_reads_document_their_bodies(schema):
    assert schema["paths"]["/api/v3/orders/jobs/{job_id}"]["get"]["responses"]["200"]["content"]
    assert "job_not_found" in schema["paths"]["/api/v3/orders/jobs/{job_id}"]["get"]["responses"]["404"]["description"]
    assert schema["paths"]["/api/v3/orders/{order_id}"]["get"]["responses"]["200"]["content"]
    names = {p["name"] for p in schema["paths"]["/api/v3/orders"]["get"]["parameters"]}
    assert {"contactId", "count", "after", "state", "paymentStatus", "confirmedFrom", "updatedSince", "erpOrderNumber"} <= names
