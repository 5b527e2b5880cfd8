"""The OpenAPI document describes the history endpoints, their parameters and their error codes."""

import pytest

from orderledger.api.app import create_app
from orderledger.settings import Settings


@pytest.fixture(scope="module")
def schema():
    app = create_app(Settings(database_url="postgresql://nobody@127.0.0.1:1/none", redis_url="redis://127.0.0.1:1"))
    return app.openapi_schema.to_schema()


@pytest.mark.parametrize(("path", "body", "problems"), [
    ("/api/v3/orders/{order_id}/events", "OrderEvents", {"404": "order_not_found"}),
    ("/api/v3/orders/{order_id}/diff", "OrderDiff", {"400": "malformed_request", "404": "version_not_found"}),
    ("/api/v3/events", "FeedPage", {"400": "malformed_request", "503": "feed_unavailable"}),
])
def test_history_reads_document_their_bodies_and_problems(schema, path, body, problems):
    operation = schema["paths"][path]["get"]
    assert operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(f"/{body}")
    for status, code in problems.items():
        assert code in operation["responses"][status]["description"]


def test_time_travel_and_feed_parameters_are_documented(schema):
    order = {p["name"] for p in schema["paths"]["/api/v3/orders/{order_id}"]["get"]["parameters"]}
    feed = {p["name"] for p in schema["paths"]["/api/v3/events"]["get"]["parameters"]}
    diff = {p["name"] for p in schema["paths"]["/api/v3/orders/{order_id}/diff"]["get"]["parameters"]}
    assert {"version", "asOf"} <= order and {"after", "limit", "format"} <= feed and {"from", "to"} <= diff


def test_erasure_and_metrics_are_documented(schema):
    erase = schema["paths"]["/api/v3/admin/erasures"]["post"]
    assert "rebuild_in_progress" in erase["responses"]["409"]["description"]
    assert "text/plain" in next(iter(schema["paths"]["/metrics"]["get"]["responses"]["200"]["content"]))
