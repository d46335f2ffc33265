-- 008_settled_version: study_counts.settled moves with every write that can
-- change what a page of a study's finished trials by number shows: any
-- change or delete of a finished trial row, a delete of any row, a RUNNING
-- row moved to another number or study, and an insert below the study's
-- highest number (each shifts the pages after it). Kestrel's own writes
-- never move it (a new trial takes max + 1; reports, ends and reclaims
-- change only RUNNING rows), so a full page of finished trials answered
-- once stays valid while the study grows (the API keeps it, api.c); an edit
-- by hand of a finished trial moves it. Trial params are written with their
-- row and never after. See docs/schema.md.

ALTER TABLE study_counts ADD COLUMN settled INTEGER NOT NULL DEFAULT 0;

CREATE TRIGGER study_settled_insert AFTER INSERT ON trials
WHEN EXISTS (SELECT 1 FROM trials WHERE study_id = NEW.study_id AND number > NEW.number) BEGIN
    UPDATE study_counts SET settled = settled + 1 WHERE study_id = NEW.study_id;
END;

CREATE TRIGGER study_settled_delete AFTER DELETE ON trials BEGIN
    UPDATE study_counts SET settled = settled + 1 WHERE study_id = OLD.study_id;
END;

CREATE TRIGGER study_settled_update
AFTER UPDATE OF id, study_id, number, state, value, started_at, finished_at, worker, failure,
                spec_hash, budget, resumed_from, retry_of, enqueued_id ON trials
WHEN OLD.state != 'RUNNING' OR NEW.number != OLD.number OR NEW.study_id != OLD.study_id BEGIN
    UPDATE study_counts SET settled = settled + 1 WHERE study_id IN (OLD.study_id, NEW.study_id);
END;
