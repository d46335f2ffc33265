-- 004_study_counts: each study's trial counts kept in a row of their own,
-- moved by triggers in the same transaction as the trial write, so reading a
-- study (every API request does) no longer counts its trials: 10,000 trials
-- cost five index scans per read before. The triggers see every write
-- (insert, state change, reclaim, cascade delete), whoever makes it.
-- n_interrupted counts the FAILED trials whose reason starts "interrupted: "
-- (TRIAL_INTERRUPTED in common/trial.h: a stop, Ctrl-C or crash), which a read
-- takes out of n_failed. n_configs counts finished trials that are neither
-- promotions nor retries
-- (what budget.max_trials bounds; see 002). version moves with every write
-- to the study's trials (a trial row's params are written with it) except
-- the last_step of a report, so a reader can tell that what it answered
-- before about the study's finished trials still holds (the API's response
-- cache). Reports, the most frequent writes, fire no trigger: a trigger
-- costs its statement a statement journal (about 0.25 ms of CPU measured per
-- firing on a loaded 2-core machine). See docs/schema.md.

CREATE TABLE study_counts (
    study_id    INTEGER PRIMARY KEY REFERENCES studies(id) ON DELETE CASCADE,
    n_trials    INTEGER NOT NULL DEFAULT 0,
    n_running   INTEGER NOT NULL DEFAULT 0,
    n_complete  INTEGER NOT NULL DEFAULT 0,
    n_pruned    INTEGER NOT NULL DEFAULT 0,
    n_failed    INTEGER NOT NULL DEFAULT 0,
    n_interrupted INTEGER NOT NULL DEFAULT 0,
    n_configs   INTEGER NOT NULL DEFAULT 0,
    version     INTEGER NOT NULL DEFAULT 0
);

INSERT INTO study_counts
SELECT s.id,
       count(t.id),
       count(CASE WHEN t.state = 'RUNNING' THEN 1 END),
       count(CASE WHEN t.state = 'COMPLETE' THEN 1 END),
       count(CASE WHEN t.state = 'PRUNED' THEN 1 END),
       count(CASE WHEN t.state = 'FAILED' THEN 1 END),
       count(CASE WHEN t.state = 'FAILED' AND t.failure LIKE 'interrupted: %' THEN 1 END),
       count(CASE WHEN t.state != 'RUNNING' AND t.resumed_from IS NULL
                   AND t.retry_of IS NULL THEN 1 END),
       0
  FROM studies s LEFT JOIN trials t ON t.study_id = s.id
 GROUP BY s.id;

CREATE TRIGGER study_counts_new_study AFTER INSERT ON studies BEGIN
    INSERT INTO study_counts (study_id) VALUES (NEW.id);
END;

-- A trial row's contribution to its study's counts, added (sign +1) or taken
-- away (-1): the one place the counting rules are written. The trials
-- triggers insert moves into this view; its INSTEAD OF trigger applies them.
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

-- Any other change of a trial row (an end sets state and value; an edit by
-- hand) moves its contribution out and back in, and so the version.
CREATE TRIGGER study_counts_trial_update
AFTER UPDATE OF id, study_id, number, state, value, started_at, finished_at, worker, failure,
                spec_hash, budget, resumed_from, retry_of ON trials BEGIN
    INSERT INTO study_count_moves VALUES
        (OLD.study_id, -1, OLD.state, OLD.resumed_from IS NULL AND OLD.retry_of IS NULL,
         OLD.state = 'FAILED' AND coalesce(OLD.failure LIKE 'interrupted: %', 0)),
        (NEW.study_id, 1, NEW.state, NEW.resumed_from IS NULL AND NEW.retry_of IS NULL,
         NEW.state = 'FAILED' AND coalesce(NEW.failure LIKE 'interrupted: %', 0));
END;
