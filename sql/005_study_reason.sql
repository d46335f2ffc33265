-- 005_study_reason: why a study is in its state (a FAILED study says which
-- failures stopped it), and the folder of the spec file it was run from, so
-- the service resumes a study's command in the folder its relative paths
-- name. See docs/schema.md.

ALTER TABLE studies ADD COLUMN state_reason TEXT;
ALTER TABLE studies ADD COLUMN spec_dir TEXT;

-- Interrupted trials (FAILED with a reason starting "interrupted: ", the
-- prefix TRIAL_INTERRUPTED in src/trial.h: a stop, Ctrl-C or crash) are
-- counted apart from those that failed on their own. 004's counting rules
-- are written again with that column; a read subtracts it from n_failed.
ALTER TABLE study_counts ADD COLUMN n_interrupted INTEGER NOT NULL DEFAULT 0;
UPDATE study_counts SET n_interrupted = (SELECT count(*) FROM trials t
    WHERE t.study_id = study_counts.study_id AND t.state = 'FAILED'
      AND t.failure LIKE 'interrupted: %');

DROP TRIGGER study_counts_trial_insert;
DROP TRIGGER study_counts_trial_delete;
DROP TRIGGER study_counts_trial_update;
DROP TRIGGER study_count_move;
DROP VIEW study_count_moves;

CREATE VIEW study_count_moves AS
SELECT 0 AS study_id, 0 AS sign, '' AS state, 0 AS fresh, 0 AS interrupted WHERE 0;

CREATE TRIGGER study_count_move INSTEAD OF INSERT ON study_count_moves BEGIN
    UPDATE study_counts SET
        version = version + 1,
        n_trials = n_trials + NEW.sign,
        n_running = n_running + NEW.sign * (NEW.state = 'RUNNING'),
        n_complete = n_complete + NEW.sign * (NEW.state = 'COMPLETE'),
        n_pruned = n_pruned + NEW.sign * (NEW.state = 'PRUNED'),
        n_failed = n_failed + NEW.sign * (NEW.state = 'FAILED'),
        n_interrupted = n_interrupted + NEW.sign * NEW.interrupted,
        n_configs = n_configs + NEW.sign * (NEW.state != 'RUNNING' AND NEW.fresh)
     WHERE study_id = NEW.study_id;
END;

CREATE TRIGGER study_counts_trial_insert AFTER INSERT ON trials BEGIN
    INSERT INTO study_count_moves VALUES
        (NEW.study_id, 1, NEW.state, NEW.resumed_from IS NULL AND NEW.retry_of IS NULL,
         NEW.state = 'FAILED' AND coalesce(NEW.failure LIKE 'interrupted: %', 0));
END;

CREATE TRIGGER study_counts_trial_delete AFTER DELETE ON trials BEGIN
    INSERT INTO study_count_moves VALUES
        (OLD.study_id, -1, OLD.state, OLD.resumed_from IS NULL AND OLD.retry_of IS NULL,
         OLD.state = 'FAILED' AND coalesce(OLD.failure LIKE 'interrupted: %', 0));
END;

CREATE TRIGGER study_counts_trial_update
AFTER UPDATE OF id, study_id, number, state, value, started_at, finished_at, worker, failure,
                spec_hash, budget, resumed_from, retry_of ON trials BEGIN
    INSERT INTO study_count_moves VALUES
        (OLD.study_id, -1, OLD.state, OLD.resumed_from IS NULL AND OLD.retry_of IS NULL,
         OLD.state = 'FAILED' AND coalesce(OLD.failure LIKE 'interrupted: %', 0)),
        (NEW.study_id, 1, NEW.state, NEW.resumed_from IS NULL AND NEW.retry_of IS NULL,
         NEW.state = 'FAILED' AND coalesce(NEW.failure LIKE 'interrupted: %', 0));
END;
