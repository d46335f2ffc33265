-- 009_version_enqueued: study_counts.version moves with a change of a trial's
-- enqueued_id too. 007 added the column after 004's update trigger was
-- written, so a hand edit of it (which the API shows as a trial's
-- "enqueued") left version where it was, and a reader keeping what it
-- answered under (id, created_at, version) kept the old answer. The trigger
-- is 004's with the column added; settled (008) already watches it.

DROP TRIGGER study_counts_trial_update;

CREATE TRIGGER study_counts_trial_update
AFTER UPDATE OF id, study_id, number, state, value, started_at, finished_at, worker, failure,
                spec_hash, budget, resumed_from, retry_of, enqueued_id ON trials BEGIN
    INSERT INTO study_count_moves VALUES
        (OLD.study_id, -1, OLD.state, OLD.resumed_from IS NULL AND OLD.retry_of IS NULL,
         OLD.state = 'FAILED' AND coalesce(OLD.failure LIKE 'interrupted: %', 0)),
        (NEW.study_id, 1, NEW.state, NEW.resumed_from IS NULL AND NEW.retry_of IS NULL,
         NEW.state = 'FAILED' AND coalesce(NEW.failure LIKE 'interrupted: %', 0));
END;
