-- 013_key_hashes: a worker's key is kept as its SHA-256 only (key_sha256,
-- 64 lowercase hex digits of the hash of the key's text), no longer as
-- itself (012's key): whoever can read the history (one made before
-- schema version 12 and one copied elsewhere may be readable by others)
-- could take a key from it and end that worker's trials. A restarted
-- server checks a worker's key against the hash (docs/workers.md). The
-- keys are 128 random bits, out of reach of a search by brute force, so
-- the hash needs no salt.
-- SQL has no SHA-256: kestrel_sha256() is the application's own function,
-- defined on every connection `kestrel` opens (src/storage_sqlite.c); this
-- file runs only there. secure_delete overwrites the freed space with
-- zeros, so the plain keys leave the file's pages too, not only its rows
-- (it stays on for the rest of the connection that migrates: zeros written
-- where rows are deleted, a small cost once); kestrel checkpoints the log
-- after a migration, so they leave the file at once.

PRAGMA secure_delete = ON;

DROP VIEW kept_leases;

ALTER TABLE workers ADD COLUMN key_sha256 TEXT;
UPDATE workers SET key_sha256 = kestrel_sha256(key) WHERE key IS NOT NULL;
ALTER TABLE workers DROP COLUMN key;

-- as in 012, with the hash in place of the key
CREATE VIEW kept_leases AS
SELECT l.id AS id, l.worker_id AS worker_id, l.study_id AS study_id,
       l.trial_number AS trial_number, s.name AS study, w.name AS worker,
       w.info AS info, w.key_sha256 AS key_sha256
  FROM leases l
  JOIN workers w ON w.id = l.worker_id
  JOIN studies s ON s.id = l.study_id
  JOIN trials t ON t.study_id = l.study_id AND t.number = l.trial_number
 WHERE l.ended_at IS NULL AND w.key_sha256 IS NOT NULL AND t.state = 'RUNNING'
   AND s.state = 'RUNNING' AND l.started_at >= t.started_at;
