"""Tables of automations. Idempotent DDL, applied by `orderledger migrate`.

`webhook_delivery` is a transactional outbox: a row is written in the same
transaction as what causes it (an action request, or the processing of a
version), so a committed cause always has its deliveries, and a delivery job
lost with Redis or a killed worker is found again by the delivery sweep.
"""

DDL = """
CREATE TABLE IF NOT EXISTS webhook_subscription (
    subscription_id  uuid PRIMARY KEY,
    tenant_id        uuid NOT NULL,
    url              text NOT NULL,
    secret           text NOT NULL,          -- needed in clear to sign; shown to the tenant once
    actions          text[] NOT NULL DEFAULT '{}',   -- action names, or '*' for every action
    events           text[] NOT NULL DEFAULT '{}',   -- order.created, order.updated, order.status_changed, order.deleted
    description      text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    removed_at       timestamptz             -- kept, not deleted: deliveries and their log refer to it
);
CREATE INDEX IF NOT EXISTS webhook_subscription_tenant_idx ON webhook_subscription (tenant_id) WHERE removed_at IS NULL;

-- One row per (order, version, action): its id is derived from those three, so a repeat is the same row.
-- materialized_at is set when its deliveries are written, which needs its version processed.
CREATE TABLE IF NOT EXISTS action_request (
    action_request_id  uuid PRIMARY KEY,
    tenant_id          uuid NOT NULL,
    aggregate_id       uuid NOT NULL,
    order_id           text NOT NULL,
    version            integer NOT NULL,
    action             text NOT NULL,
    language           text,
    data               jsonb,
    source             text NOT NULL,          -- 'api' (POST .../action) or 'embedded' (in a create or replace)
    requested_at       timestamptz NOT NULL DEFAULT now(),
    materialized_at    timestamptz,
    UNIQUE (aggregate_id, version, action)
);
CREATE INDEX IF NOT EXISTS action_request_waiting_idx ON action_request (aggregate_id) WHERE materialized_at IS NULL;

-- The last sequence number given to a (subscription, order): receivers order and de-duplicate by it.
CREATE TABLE IF NOT EXISTS webhook_sequence (
    subscription_id  uuid NOT NULL,
    aggregate_id     uuid NOT NULL,
    last             bigint NOT NULL,
    PRIMARY KEY (subscription_id, aggregate_id)
);

CREATE TABLE IF NOT EXISTS webhook_delivery (
    delivery_id        uuid PRIMARY KEY,
    tenant_id          uuid NOT NULL,
    subscription_id    uuid NOT NULL,
    aggregate_id       uuid NOT NULL,
    order_id           text NOT NULL,
    version            integer NOT NULL,
    kind               text NOT NULL,          -- action, order.created, order.updated, order.status_changed, order.deleted
    action_request_id  uuid,
    sequence           bigint NOT NULL,
    occurred_at        timestamptz NOT NULL,
    status             text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts           integer NOT NULL DEFAULT 0,  -- every try ever made (numbers the attempt log)
    round_attempts     integer NOT NULL DEFAULT 0,  -- tries since created or redelivered (decides dead)
    next_attempt_at    timestamptz NOT NULL DEFAULT now(),
    body               text,                   -- built at the first try, then sent byte for byte on every try
    last_status_code   integer,
    last_error         text,
    created_at         timestamptz NOT NULL DEFAULT now(),
    delivered_at       timestamptz,
    dead_at            timestamptz
);
CREATE UNIQUE INDEX IF NOT EXISTS webhook_delivery_change_key
    ON webhook_delivery (subscription_id, aggregate_id, version, kind) WHERE action_request_id IS NULL;
CREATE UNIQUE INDEX IF NOT EXISTS webhook_delivery_action_key
    ON webhook_delivery (action_request_id, subscription_id) WHERE action_request_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS webhook_delivery_due_idx ON webhook_delivery (next_attempt_at) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS webhook_delivery_order_idx ON webhook_delivery (tenant_id, order_id, created_at);
CREATE INDEX IF NOT EXISTS webhook_delivery_dead_idx ON webhook_delivery (tenant_id, dead_at) WHERE status = 'dead';

CREATE TABLE IF NOT EXISTS webhook_attempt (
    delivery_id       uuid NOT NULL,
    attempt           integer NOT NULL,
    status_code       integer,
    latency_ms        integer NOT NULL,
    error             text,
    response_excerpt  text,
    attempted_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (delivery_id, attempt)
);
"""
