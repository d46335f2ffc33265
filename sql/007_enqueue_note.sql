-- 007_enqueue_note: configurations given to run before a study's strategy
-- suggests its own (kestrel enqueue, POST /enqueue, a spec's "enqueue"), and
-- a free-text note on a study. An enqueued row is pending until a trial
-- names it in enqueued_id: the trial's insert consumes it in the same
-- transaction, so no configuration runs twice, whatever crashes between.
-- See docs/schema.md.

ALTER TABLE studies ADD COLUMN note TEXT;

CREATE TABLE enqueued (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    study_id    INTEGER NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
    params      TEXT NOT NULL CHECK (json_valid(params)),  -- {name: value} of the space
    origin      TEXT NOT NULL CHECK (origin IN ('spec', 'cli', 'api')),
    created_at  REAL NOT NULL
);
CREATE INDEX enqueued_study ON enqueued (study_id, id);

-- The enqueued row a trial ran, NULL for the strategy's own; unique, so
-- no configuration runs twice (no foreign key:
-- the study's delete removes both, in any order).
ALTER TABLE trials ADD COLUMN enqueued_id INTEGER;
CREATE UNIQUE INDEX trials_enqueued ON trials (enqueued_id) WHERE enqueued_id IS NOT NULL;
