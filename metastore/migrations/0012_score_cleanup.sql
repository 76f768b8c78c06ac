-- Lake prefixes of published scoring runs whose intermediate feature parts
-- are still to be removed: a publication that could not remove its own
-- (the object store unreachable) leaves them here, and every later
-- publication tries again.
CREATE TABLE sluice.score_cleanup (
    prefix   text        PRIMARY KEY,
    run      text        NOT NULL,
    added_at timestamptz NOT NULL DEFAULT now()
);
