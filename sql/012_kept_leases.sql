-- 012_kept_leases: a restarted `kestrel serve` keeps the leases its workers
-- still run (docs/workers.md, "Restarts"). It knows such a worker again by
-- the key the worker got at its registration (the worker authenticates
-- every call with it), so the key is kept with the worker's row; a row
-- written before this version has none, and its leases are not kept.
-- kept_leases: the open leases a starting server takes back: their trial
-- is still RUNNING (nothing else ended it: no `kestrel run` reclaimed it),
-- in a study stored RUNNING (the server resumes it), and the lease is the
-- trial's own (begun after the trial: a lease row left open by a deleted
-- study whose id SQLite gave again names another trial of that number).

ALTER TABLE workers ADD COLUMN key TEXT;

CREATE VIEW kept_leases AS
SELECT l.id AS id, l.worker_id AS worker_id, l.study_id AS study_id,
       l.trial_number AS trial_number, s.name AS study, w.name AS worker,
       w.info AS info, w.key AS key
  FROM leases l
  JOIN workers w ON w.id = l.worker_id
  JOIN studies s ON s.id = l.study_id
  JOIN trials t ON t.study_id = l.study_id AND t.number = l.trial_number
 WHERE l.ended_at IS NULL AND w.key IS NOT NULL AND t.state = 'RUNNING'
   AND s.state = 'RUNNING' AND l.started_at >= t.started_at;
