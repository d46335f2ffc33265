-- 002_fresh_index: counting a study's configurations (trials that are neither
-- Hyperband/ASHA promotions nor retries: what budget.max_trials bounds) reads
-- this partial index instead of every trial row. See docs/schema.md.

CREATE INDEX trials_study_fresh ON trials (study_id, state)
    WHERE resumed_from IS NULL AND retry_of IS NULL;
