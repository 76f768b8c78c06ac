-- The metadata schema. Later migrations add the registry, runs and monitoring tables.
CREATE SCHEMA IF NOT EXISTS sluice;

-- Rows written by the self-check workflow (`sluice dev`, `make demo`): proof
-- that a worker reaches PostgreSQL. The key makes a retried write idempotent.
CREATE TABLE sluice.selfcheck (
    run_id     text        PRIMARY KEY,
    note       text        NOT NULL,
    lake_key   text        NOT NULL,
    written_at timestamptz NOT NULL
);
