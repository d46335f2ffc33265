-- 003_report_time: when each intermediate report arrived (Unix seconds, as
-- trials.started_at), so the time a study first reached a value can be read
-- from its epoch reports, not only from finished trials. NULL for reports
-- stored before this migration. See docs/schema.md.

ALTER TABLE trial_values ADD COLUMN at REAL;
