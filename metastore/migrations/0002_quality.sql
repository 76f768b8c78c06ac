-- Data-quality check results, one row per run and check.
CREATE TABLE sluice.quality_results (
    run_id     text        NOT NULL,
    source     text        NOT NULL,
    check_name text        NOT NULL,
    level      text        NOT NULL,
    passed     boolean     NOT NULL,
    violations bigint      NOT NULL,
    detail     text        NOT NULL,
    checked_at timestamptz NOT NULL,
    PRIMARY KEY (run_id, check_name)
);
CREATE INDEX quality_results_source ON sluice.quality_results (source, checked_at DESC);
