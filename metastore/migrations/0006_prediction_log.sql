-- The online server's prediction log: every answered (and shadow)
-- prediction, written asynchronously in batches.
CREATE TABLE sluice.prediction_log (
    request_id text             NOT NULL,
    model      text             NOT NULL,
    entity     text,
    version    integer          NOT NULL,
    variant    text             NOT NULL,
    score      double precision NOT NULL,
    latency_us integer          NOT NULL,
    logged_at  timestamptz      NOT NULL
);
CREATE INDEX prediction_log_model_time ON sluice.prediction_log (model, logged_at);
