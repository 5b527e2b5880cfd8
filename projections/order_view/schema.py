"""Tables of the order view. Idempotent DDL, applied by `orderledger migrate`."""

DDL = """
CREATE TABLE IF NOT EXISTS order_view (
    aggregate_id  uuid PRIMARY KEY,
    tenant_id     uuid NOT NULL,
    order_id      text NOT NULL,
    version       integer NOT NULL,
    document      jsonb NOT NULL,
    is_deleted    boolean NOT NULL DEFAULT false,
    contact_key   text,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    UNIQUE (tenant_id, order_id)
);
CREATE INDEX IF NOT EXISTS order_view_contact_idx
    ON order_view (tenant_id, contact_key, created_at DESC) WHERE NOT is_deleted;

-- One row per processed version: the proof that a version reached the read
-- models, its VersionTag, and what job status reports for it forever after.
CREATE TABLE IF NOT EXISTS order_version (
    aggregate_id  uuid NOT NULL,
    version       integer NOT NULL,
    tenant_id     uuid NOT NULL,
    order_id      text NOT NULL,
    version_tag   text NOT NULL UNIQUE,
    event_type    text NOT NULL,
    recorded_at   timestamptz NOT NULL,
    processed_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    warnings      jsonb NOT NULL DEFAULT '[]',
    PRIMARY KEY (aggregate_id, version)
);
"""
