"""Every error answers `application/problem+json` (RFC 9457) with a stable machine `code`.

One place maps named errors to problems; handlers raise `Problem` or a named
error and never build error responses themselves.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, NotAuthorizedException, NotFoundException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from orderledger.application import OrderExists, OrderNotFound, VersionConflict
from orderledger.domain.errors import OrderDeleted, OrderRejected
from orderledger.jsoncodec import dumps

log = logging.getLogger("orderledger.api")

PROBLEM_MEDIA_TYPE = "application/problem+json"


class Problem(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        errors: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail
        self.errors, self.headers, self.extra = errors, headers or {}, extra

    def to_response(self, request: Request | None = None) -> Response[bytes]:
        body: dict[str, Any] = {
            "type": f"https://orderledger.dev/problems/{self.code.replace('_', '-')}",
            "title": _TITLES.get(self.status, "Error"),
            "status": self.status,
            "code": self.code,
            "detail": self.detail,
        }
        if request is not None:
            body["instance"] = request.url.path
        if self.errors is not None:
            body["errors"] = self.errors
        body.update(self.extra)
        return Response(content=dumps(body), status_code=self.status, media_type=PROBLEM_MEDIA_TYPE, headers=self.headers)


_TITLES = {
    400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed", 409: "Conflict",
    413: "Payload Too Large", 415: "Unsupported Media Type", 422: "Unprocessable Content", 500: "Internal Server Error",
    503: "Service Unavailable",
}

_PATH = re.compile(r" - at `\$(?P<path>[^`]*)`$")
_FIELD = re.compile(r"field `(?P<field>[^`]+)`")


def pointer_of(message: str) -> tuple[str, str]:
    """Split a msgspec validation message into (JSON pointer, human detail)."""
    match = _PATH.search(message)
    path = match.group("path") if match else ""
    detail = message[: match.start()] if match else message
    pointer = re.sub(r"\[(\d+)\]", r"/\1", path).replace(".", "/")
    named = _FIELD.search(detail)
    if named and ("unknown field" in detail or "missing required field" in detail):
        pointer = f"{pointer}/{named.group('field')}"
    return pointer, detail


def malformed(error: msgspec.DecodeError | msgspec.ValidationError) -> Problem:
    if isinstance(error, msgspec.ValidationError):
        pointer, detail = pointer_of(str(error))
        return Problem(
            400, "malformed_request", "The request body does not match the schema.",
            errors=[{"pointer": pointer, "code": "invalid_type", "detail": detail}],
        )
    return Problem(400, "malformed_request", f"The request body is not valid JSON: {error}",
                   errors=[{"pointer": "", "code": "invalid_json", "detail": str(error)}])


def _named_error_to_problem(error: Exception) -> Problem | None:
    match error:
        case OrderRejected():
            return Problem(422, "order_invalid", f"The order breaks {len(error.violations)} rule(s); each is listed in errors.",
                           errors=[{"pointer": v.pointer, "code": v.code, "detail": v.detail} for v in error.violations])
        case msgspec.ValidationError() | msgspec.DecodeError():
            return malformed(error)
        case OrderExists():
            return Problem(409, "order_exists", f"Order {error.order_id!r} already exists in this tenant.", orderId=error.order_id)
        case OrderNotFound() | OrderDeleted():
            return Problem(404, "order_not_found", f"Order {error.order_id!r} was not found.", orderId=error.order_id)
        case VersionConflict():
            return Problem(409, "version_conflict", str(error), currentVersion=error.current,
                           headers={"ETag": f'"{error.current}"'})
    return None


def handle_exception(request: Request, error: Exception) -> Response[bytes]:
    if isinstance(error, Problem):
        return error.to_response(request)
    problem = _named_error_to_problem(error)
    if problem is not None:
        return problem.to_response(request)
    if isinstance(error, ValidationException):
        errors = [
            {"pointer": f"/{item.get('key', '')}" if item.get("source") == "body" else item.get("key", ""),
             "code": "invalid_parameter", "detail": item.get("message", "")}
            for item in (error.extra if isinstance(error.extra, list) else [])
        ]
        return Problem(400, "malformed_request", "The request is not valid.", errors=errors).to_response(request)
    if isinstance(error, NotAuthorizedException):
        return Problem(401, "unauthorized", error.detail).to_response(request)
    if isinstance(error, NotFoundException):
        return Problem(404, "not_found", "No such resource.").to_response(request)
    if isinstance(error, HTTPException):
        code = re.sub(r"[^a-z]+", "_", _TITLES.get(error.status_code, "error").lower()).strip("_")
        return Problem(error.status_code, code, error.detail, headers=error.headers or {}).to_response(request)
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return Problem(HTTP_500_INTERNAL_SERVER_ERROR, "internal_error", "An unexpected error occurred; it has been logged.").to_response(request)
