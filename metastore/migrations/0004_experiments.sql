-- Every trial of every training run: what it tried and how it did.
CREATE TABLE sluice.experiments (
    run_id       text        NOT NULL,
    model        text        NOT NULL,
    trial        integer     NOT NULL,
    params       jsonb       NOT NULL,
    metrics      jsonb       NOT NULL,
    rounds       integer     NOT NULL,
    resumed_from integer     NOT NULL,
    worker       text        NOT NULL,
    device       text        NOT NULL,
    artifact_key text        NOT NULL,
    best         boolean     NOT NULL DEFAULT false,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, trial)
);
CREATE INDEX experiments_model ON sluice.experiments (model, recorded_at DESC);
