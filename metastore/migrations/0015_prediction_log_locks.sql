-- 0014 copied the log's (model, logged_at) index with LIKE … INCLUDING ALL
-- and then made it again: one is enough.
DROP INDEX IF EXISTS sluice.prediction_log_model_time;

-- Making a day's partition locks the whole log: it waits at most 2 s for a
-- long reader (online drift streaming the log) instead of queueing every
-- writer behind it; the server makes each next day ahead and tries again.
CREATE OR REPLACE FUNCTION sluice.prediction_log_day(day date) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF to_regclass('sluice.prediction_log_' || to_char(day, 'YYYYMMDD')) IS NOT NULL THEN
        RETURN;
    END IF;
    PERFORM set_config('lock_timeout', '2s', true);
    EXECUTE format('CREATE TABLE IF NOT EXISTS sluice.%I PARTITION OF sluice.prediction_log FOR VALUES FROM (%L) TO (%L)',
        'prediction_log_' || to_char(day, 'YYYYMMDD'),
        to_char(day, 'YYYY-MM-DD') || ' 00:00:00+00', to_char(day + 1, 'YYYY-MM-DD') || ' 00:00:00+00');
EXCEPTION WHEN duplicate_table OR unique_violation THEN
    NULL; -- another writer made it first
END $$;
