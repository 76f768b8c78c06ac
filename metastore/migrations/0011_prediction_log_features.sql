-- The model's input row of each logged prediction, in the artifact's
-- feature order (categories as their codes, missing as NaN), for the
-- drift of online traffic.
ALTER TABLE sluice.prediction_log ADD COLUMN features real[];
