-- 005_study_reason: why a study is in its state (a FAILED study says which
-- failures stopped it), and the folder of the spec file it was run from, so
-- the service resumes a study's command in the folder its relative paths
-- name. See docs/schema.md.

ALTER TABLE studies ADD COLUMN state_reason TEXT;
ALTER TABLE studies ADD COLUMN spec_dir TEXT;
