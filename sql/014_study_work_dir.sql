-- 014_study_work_dir: the folder a study's trial folders are in, when it
-- was first run with `kestrel run --work-dir DIR` (DIR made absolute, its
-- links resolved). Before, nothing remembered it: the same study resumed
-- by `kestrel serve` or a `kestrel run` without the option looked in
-- <history>.trials, so a promotion (Hyperband, ASHA) missed its parent's
-- checkpoint and trained from the start, and `kestrel delete` and
-- `kestrel best --export-model` missed the folders. NULL (every study of
-- an older history, and one run without --work-dir): <history>.trials,
-- beside the history wherever it is moved. See docs/schema.md.

ALTER TABLE studies ADD COLUMN work_dir TEXT;
