-- Alerts: drift (and later other) conditions raised for a model, at most
-- one per model and kind within a cooldown, with their webhook delivery.
CREATE TABLE sluice.alerts (
    id         bigserial   PRIMARY KEY,
    model      text        NOT NULL,
    kind       text        NOT NULL,
    level      text        NOT NULL,
    message    text        NOT NULL,
    run_id     text        NOT NULL,
    as_of      timestamptz NOT NULL,
    payload    jsonb       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    sent_at    timestamptz,
    attempts   integer     NOT NULL DEFAULT 0,
    last_error text        NOT NULL DEFAULT ''
);
CREATE INDEX alerts_model ON sluice.alerts (model, kind, created_at DESC);
