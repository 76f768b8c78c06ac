-- Bulk scoring: each run's partitions that are loaded into the run's
-- staging table, with the lake files they wrote. A partition's row commits
-- with its COPY, so a retried partition finds it and loads nothing twice;
-- the run's publication deletes them with the partition swap.
CREATE TABLE sluice.score_parts (
    run        text        NOT NULL,
    part       integer     NOT NULL,
    rows       bigint      NOT NULL,
    lake_files jsonb       NOT NULL,
    timings    jsonb       NOT NULL,
    loaded_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run, part)
);
CREATE SCHEMA IF NOT EXISTS predictions;
