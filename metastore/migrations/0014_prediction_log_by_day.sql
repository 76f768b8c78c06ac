-- The prediction log is partitioned by day (UTC), so retention drops
-- whole days (the Maintain workflow, LogRetentionDays) instead of
-- deleting rows, and readers of a window touch only its days. A day's
-- partition is made by its first writer (sluice.prediction_log_day);
-- the rows already logged move into theirs.
ALTER TABLE sluice.prediction_log RENAME TO prediction_log_before_0014;
ALTER INDEX sluice.prediction_log_model_time RENAME TO prediction_log_before_0014_model_time;
CREATE TABLE sluice.prediction_log (LIKE sluice.prediction_log_before_0014 INCLUDING ALL)
    PARTITION BY RANGE (logged_at);
CREATE INDEX prediction_log_model_time ON sluice.prediction_log (model, logged_at);

-- prediction_log_day makes the partition of a day, prediction_log_YYYYMMDD,
-- unless it exists; concurrent writers may race to make it.
CREATE FUNCTION sluice.prediction_log_day(day date) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('CREATE TABLE IF NOT EXISTS sluice.%I PARTITION OF sluice.prediction_log FOR VALUES FROM (%L) TO (%L)',
        'prediction_log_' || to_char(day, 'YYYYMMDD'),
        to_char(day, 'YYYY-MM-DD') || ' 00:00:00+00', to_char(day + 1, 'YYYY-MM-DD') || ' 00:00:00+00');
EXCEPTION WHEN duplicate_table OR unique_violation THEN
    NULL; -- another writer made it first
END $$;

DO $$
DECLARE d date;
BEGIN
    FOR d IN SELECT DISTINCT (logged_at AT TIME ZONE 'UTC')::date FROM sluice.prediction_log_before_0014 LOOP
        PERFORM sluice.prediction_log_day(d);
    END LOOP;
END $$;
INSERT INTO sluice.prediction_log SELECT * FROM sluice.prediction_log_before_0014;
DROP TABLE sluice.prediction_log_before_0014;
