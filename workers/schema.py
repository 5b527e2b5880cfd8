"""Tables the workers own. Idempotent DDL, applied by `orderledger migrate`."""

DDL = """
-- How far each sweeper has read the event store's notification log. Every
-- notification at or below the position is processed or recorded as failed.
CREATE TABLE IF NOT EXISTS sweeper_position (
    name             text PRIMARY KEY,
    notification_id  bigint NOT NULL,
    updated_at       timestamptz
);

-- Versions whose processing failed for good (RQ's retries exhausted, or the
-- sweeper's attempt with no RQ job left to retry it). Job status answers
-- Failed from here after RQ has forgotten the job; a later processing of the
-- version sets resolved_at (and its order_version row answers Completed).
CREATE TABLE IF NOT EXISTS projection_failure (
    aggregate_id  uuid NOT NULL,
    version       integer NOT NULL,
    tenant_id     uuid NOT NULL,
    error         text NOT NULL,
    attempts      integer NOT NULL,
    failed_at     timestamptz NOT NULL DEFAULT now(),
    resolved_at   timestamptz,
    PRIMARY KEY (aggregate_id, version)
);
CREATE INDEX IF NOT EXISTS projection_failure_unresolved_idx
    ON projection_failure (tenant_id, failed_at) WHERE resolved_at IS NULL;
"""
