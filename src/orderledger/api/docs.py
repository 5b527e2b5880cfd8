"""OpenAPI documentation helpers: problem responses with their codes, and request bodies.

Command handlers read their bodies themselves (exact decimals, every error a
problem with a pointer), so Litestar cannot see the body type in their
signatures; `request_body` records it in the handler's `opt` and
`document_request_bodies` adds it to the generated document.
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import OpenAPIMediaType, RequestBody
from litestar.typing import FieldDefinition

from orderledger.api.problems import PROBLEM_MEDIA_TYPE
from orderledger.api.schemas import ProblemDetails

REQUEST_BODY = "request_body"


def problems(**codes_by_status: str) -> dict[int, ResponseSpec]:
    """Problem responses, e.g. problems(s400="malformed_request", s409="order_exists")."""
    return {
        int(status.removeprefix("s")): ResponseSpec(
            data_container=ProblemDetails, media_type=PROBLEM_MEDIA_TYPE, generate_examples=False,
            description=f"application/problem+json with code: {codes}",
        )
        for status, codes in codes_by_status.items()
    }


def accepted(**codes_by_status: str) -> dict[int, ResponseSpec]:
    """The 202 of a command plus its problem responses (401 always)."""
    from orderledger.api.schemas import JobAccepted

    return {
        202: ResponseSpec(JobAccepted, description="Accepted: the events are committed; `Location` is the job."),
        **problems(s401="unauthorized", **codes_by_status),
    }


def ok(body: Any, description: str, **codes_by_status: str) -> dict[int, ResponseSpec]:
    return {200: ResponseSpec(body, description=description), **problems(s401="unauthorized", **codes_by_status)}


def request_body(body_type: Any) -> dict[str, Any]:
    return {REQUEST_BODY: body_type}


def document_request_bodies(app: Litestar) -> None:
    """Add each command's request body schema to the OpenAPI document Litestar generates."""
    from litestar._openapi.plugin import OpenAPIPlugin

    plugin = app.plugins.get(OpenAPIPlugin)
    # Litestar builds the document in a private method of a slotted class; a slot-free subclass
    # swapped in keeps its state and adds the bodies. Checked against Litestar 2.25.
    plugin.__class__ = _with_request_bodies(type(plugin))


def _with_request_bodies(base: type) -> type:
    from litestar._openapi.datastructures import OpenAPIContext
    from litestar._openapi.schema_generation import SchemaCreator

    class OpenAPIPluginWithBodies(base):  # type: ignore[misc, valid-type]
        __slots__ = ()

        def _build_openapi(self) -> Any:
            openapi = super()._build_openapi()
            context = OpenAPIContext(openapi_config=self.openapi_config, plugins=self.app.plugins.openapi)
            creator = SchemaCreator.from_openapi_context(context, prefer_alias=True)
            for route in self.included_routes.values():
                for handler in route.route_handlers:
                    body_type = handler.opt.get(REQUEST_BODY)
                    if body_type is None:
                        continue
                    schema = creator.for_field_definition(FieldDefinition.from_annotation(body_type))
                    path_item = openapi.paths[route.path_format or "/"]
                    for method in handler.http_methods:
                        getattr(path_item, method.lower()).request_body = RequestBody(
                            required=True, content={"application/json": OpenAPIMediaType(schema=schema)}
                        )
            openapi.components.schemas.update(context.schema_registry.generate_components_schemas())
            return openapi

    return OpenAPIPluginWithBodies
