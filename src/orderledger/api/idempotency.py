"""`Idempotency-Key` on mutating requests: the same key and body answer the same job again.

The first request claims the key (per tenant) before it runs and stores its
answer after; a retry with the same body gets that answer, with a different
body `409 idempotency_key_reused`, and while the first is still running
`409 idempotency_key_in_progress`. A failed request releases its key so the
client can retry; so does a claim left unanswered for two minutes (its API
process died). Keys are kept 48 hours (the promise is at least 24).
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from uuid import UUID

import asyncpg
from litestar import Request, Response

from orderledger.api.problems import Problem

DDL = """
CREATE TABLE IF NOT EXISTS idempotency_key (
    tenant_id     uuid NOT NULL,
    key           text NOT NULL,
    request_hash  bytea NOT NULL,
    status_code   integer,
    response      bytea,
    location      text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, key)
);
"""

KEEP = "48 hours"
# A claim whose request never answered (the API process died mid-request) is given up after this.
ABANDONED = "2 minutes"
MAX_KEY_LENGTH = 255

_CLAIM = f"""
INSERT INTO idempotency_key (tenant_id, key, request_hash) VALUES ($1, $2, $3)
ON CONFLICT (tenant_id, key) DO UPDATE
    SET request_hash = EXCLUDED.request_hash, status_code = NULL, response = NULL, location = NULL, created_at = now()
    WHERE idempotency_key.created_at < now() - interval '{KEEP}'
       OR (idempotency_key.status_code IS NULL AND idempotency_key.created_at < now() - interval '{ABANDONED}')
RETURNING key
"""


async def idempotent(
    pool: asyncpg.Pool, tenant_id: UUID, request: Request, body: bytes, run: Callable[[], Awaitable[Response[bytes]]]
) -> Response[bytes]:
    key = request.headers.get("idempotency-key")
    if key is None:
        return await run()
    if not key or len(key) > MAX_KEY_LENGTH:
        raise Problem(400, "malformed_request", f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters.",
                      errors=[{"pointer": "", "code": "invalid_header", "detail": "Idempotency-Key"}])
    digest = hashlib.sha256(b"\n".join([request.method.encode(), request.url.path.encode(), body])).digest()
    if await pool.fetchval(_CLAIM, tenant_id, key, digest) is None:
        return await _earlier_answer(pool, tenant_id, key, digest)
    try:
        response = await run()
    except BaseException:
        await pool.execute("DELETE FROM idempotency_key WHERE tenant_id = $1 AND key = $2", tenant_id, key)
        raise
    await pool.execute(
        "UPDATE idempotency_key SET status_code = $3, response = $4, location = $5 WHERE tenant_id = $1 AND key = $2",
        tenant_id, key, response.status_code, response.content, response.headers.get("Location"),
    )
    return response


async def _earlier_answer(pool: asyncpg.Pool, tenant_id: UUID, key: str, digest: bytes) -> Response[bytes]:
    row = await pool.fetchrow(
        "SELECT request_hash, status_code, response, location FROM idempotency_key WHERE tenant_id = $1 AND key = $2",
        tenant_id, key,
    )
    if row is None:  # released by a failed first attempt a moment ago
        raise Problem(409, "idempotency_key_in_progress", "A request with this Idempotency-Key just failed; retry it.")
    if bytes(row["request_hash"]) != digest:
        raise Problem(409, "idempotency_key_reused",
                      "This Idempotency-Key was used with a different request; use a new key for a new request.")
    if row["status_code"] is None:
        raise Problem(409, "idempotency_key_in_progress", "A request with this Idempotency-Key is still running; retry shortly.",
                      headers={"Retry-After": "1"})
    headers = {"Idempotent-Replayed": "true"}
    if row["location"]:
        headers["Location"] = row["location"]
    return Response(content=bytes(row["response"]), status_code=row["status_code"], media_type="application/json",
                    headers=headers)
