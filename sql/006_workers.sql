-- 006_workers: the workers `kestrel serve` has seen (kestrel worker, on any
-- machine) and the leases it gave them, one per trial attempt. A lease id
-- is never reused (AUTOINCREMENT, and leases are never deleted with their
-- study), so a report that names a lease from before a restart cannot land
-- on another trial. See docs/workers.md and docs/schema.md.

CREATE TABLE workers (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT NOT NULL,        -- "host:pid", plus its Slurm job when it has one
    info          TEXT NOT NULL CHECK (json_valid(info)),  -- host, slots, gpus, labels
    registered_at REAL NOT NULL
);

CREATE TABLE leases (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    worker_id     INTEGER NOT NULL REFERENCES workers(id),
    study_id      INTEGER NOT NULL,     -- no foreign key: a lease outlives a deleted study
    trial_number  INTEGER NOT NULL,
    started_at    REAL NOT NULL,
    ended_at      REAL,                 -- NULL while the lease runs
    outcome       TEXT                  -- "finished", "expired", "released", "dropped"
);
CREATE INDEX leases_worker ON leases (worker_id);
