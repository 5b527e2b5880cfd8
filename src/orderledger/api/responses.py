"""JSON responses written with the service's codec (exact decimals as numbers)."""

from __future__ import annotations

from litestar import Response

from orderledger.jsoncodec import dumps


def json_response(body: object, status: int = 200, headers: dict[str, str] | None = None) -> Response[bytes]:
    return Response(content=dumps(body), status_code=status, media_type="application/json", headers=headers or {})
