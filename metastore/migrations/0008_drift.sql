-- Drift: each scoring part's tally of its features and scores on the
-- training reference's bins, and the reports a run's merged tallies make.
ALTER TABLE sluice.score_parts ADD COLUMN drift jsonb;
CREATE TABLE sluice.drift_reports (
    id         bigserial   PRIMARY KEY,
    model      text        NOT NULL,
    version    integer     NOT NULL,
    source     text        NOT NULL,
    run_id     text        NOT NULL,
    as_of      timestamptz NOT NULL,
    rows       bigint      NOT NULL,
    level      text        NOT NULL,
    report     jsonb       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (run_id, source)
);
CREATE INDEX drift_reports_model ON sluice.drift_reports (model, as_of DESC);
