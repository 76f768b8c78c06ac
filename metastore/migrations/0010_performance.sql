-- Realized performance: predictions joined to the labels that arrived
-- later, per model version and day of the predictions' as-of time.
CREATE TABLE sluice.performance_reports (
    model       text        NOT NULL,
    version     integer     NOT NULL,
    day         date        NOT NULL,
    rows        bigint      NOT NULL,
    metrics     jsonb       NOT NULL,
    computed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (model, version, day)
);
