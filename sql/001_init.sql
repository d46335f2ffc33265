-- 001_init: the first Kestrel history schema. Applied by storage_open inside
-- one transaction, which then sets PRAGMA user_version = 1. Times are Unix
-- seconds (REAL); trial numbers are 0-based per study. See docs/schema.md.

CREATE TABLE studies (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    spec        TEXT NOT NULL CHECK (json_valid(spec)),
    spec_hash   TEXT NOT NULL,
    metric      TEXT NOT NULL,
    direction   TEXT NOT NULL CHECK (direction IN ('minimize', 'maximize')),
    state       TEXT NOT NULL DEFAULT 'RUNNING'
                CHECK (state IN ('RUNNING', 'STOPPED', 'COMPLETE', 'FAILED')),
    created_at  REAL NOT NULL,
    updated_at  REAL NOT NULL
);

CREATE TABLE trials (
    id           INTEGER PRIMARY KEY,
    study_id     INTEGER NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
    number       INTEGER NOT NULL CHECK (number >= 0),
    state        TEXT NOT NULL DEFAULT 'RUNNING'
                 CHECK (state IN ('RUNNING', 'COMPLETE', 'PRUNED', 'FAILED')),
    value        REAL,                  -- objective as reported; NULL if none
    started_at   REAL NOT NULL,
    finished_at  REAL,                  -- NULL while RUNNING
    worker       TEXT,                  -- "host:pid" of the runner
    failure      TEXT,                  -- reason when FAILED or PRUNED
    spec_hash    TEXT,                  -- the study's spec_hash when the trial began
    last_step    INTEGER NOT NULL DEFAULT -1,  -- -1: no intermediate report
    budget       INTEGER NOT NULL DEFAULT 0,   -- resource given, 0 = full
    resumed_from INTEGER,               -- trial number continued, NULL if none
    retry_of     INTEGER,               -- trial number retried, NULL if none
    CHECK ((state = 'RUNNING') = (finished_at IS NULL))
);
-- Numbers are unique per study; this index also serves "trials by number".
CREATE UNIQUE INDEX trials_study_number ON trials (study_id, number);
-- State filters, state counts and the best COMPLETE trial (ordered by value).
CREATE INDEX trials_study_state ON trials (study_id, state, value, number);
-- Best-first listings over all states.
CREATE INDEX trials_study_value ON trials (study_id, value, number);

-- One row per parameter; exactly one of value_num / value_text is set. pos
-- keeps the order the parameters were given in (the search space's order).
CREATE TABLE trial_params (
    trial_id    INTEGER NOT NULL REFERENCES trials(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    pos         INTEGER NOT NULL,
    value_num   REAL,
    value_text  TEXT,
    CHECK ((value_num IS NULL) <> (value_text IS NULL)),
    PRIMARY KEY (trial_id, name)
) WITHOUT ROWID;

-- Intermediate reports: the values a trial reported at each step.
CREATE TABLE trial_values (
    trial_id    INTEGER NOT NULL REFERENCES trials(id) ON DELETE CASCADE,
    step        INTEGER NOT NULL,
    name        TEXT NOT NULL,
    value       REAL,
    PRIMARY KEY (trial_id, step, name)
) WITHOUT ROWID;

-- Final metrics of a finished trial (the objective is also trials.value).
CREATE TABLE trial_metrics (
    trial_id    INTEGER NOT NULL REFERENCES trials(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    value       REAL,
    PRIMARY KEY (trial_id, name)
) WITHOUT ROWID;

-- Bounded tails of a finished trial's stdout and stderr.
CREATE TABLE trial_logs (
    trial_id    INTEGER PRIMARY KEY REFERENCES trials(id) ON DELETE CASCADE,
    stdout_tail TEXT,
    stderr_tail TEXT
);

-- Every trial with its study name, parameters and final metrics as JSON
-- objects, and its duration in seconds (NULL while running).
CREATE VIEW trial_overview AS
SELECT s.name AS study,
       t.study_id,
       t.id AS trial_id,
       t.number,
       t.state,
       t.value,
       (SELECT json_group_object(name, v)
          FROM (SELECT p.name, coalesce(p.value_text, p.value_num) AS v
                  FROM trial_params p WHERE p.trial_id = t.id ORDER BY p.pos)
       ) AS params,
       (SELECT json_group_object(m.name, m.value)
          FROM trial_metrics m WHERE m.trial_id = t.id) AS metrics,
       t.started_at,
       t.finished_at,
       t.finished_at - t.started_at AS duration,
       t.worker,
       t.failure,
       t.last_step,
       t.budget
  FROM trials t JOIN studies s ON s.id = t.study_id;

-- The id of each study's best COMPLETE trial by its direction (ties: lowest
-- number), NULL when it has none. One branch per direction so each lookup is
-- a walk down trials_study_state.
CREATE VIEW study_best AS
SELECT s.id AS study_id,
       CASE s.direction
       WHEN 'maximize' THEN
           (SELECT t.id FROM trials t
             WHERE t.study_id = s.id AND t.state = 'COMPLETE' AND t.value IS NOT NULL
             ORDER BY t.value DESC, t.number LIMIT 1)
       ELSE
           (SELECT t.id FROM trials t
             WHERE t.study_id = s.id AND t.state = 'COMPLETE' AND t.value IS NOT NULL
             ORDER BY t.value ASC, t.number LIMIT 1)
       END AS trial_id
  FROM studies s;

-- One row per study that has a COMPLETE trial: its best trial.
CREATE VIEW best_trials AS
SELECT o.study,
       o.study_id,
       s.metric,
       s.direction,
       o.trial_id,
       o.number,
       o.value,
       o.params,
       o.metrics,
       o.started_at,
       o.finished_at,
       o.duration
  FROM study_best b
  JOIN studies s ON s.id = b.study_id
  JOIN trial_overview o ON o.trial_id = b.trial_id;

-- One row per study: trial counts by state and the best trial (NULLs if none).
CREATE VIEW study_summary AS
SELECT s.id AS study_id,
       s.name AS study,
       s.metric,
       s.direction,
       s.state,
       (SELECT count(*) FROM trials t WHERE t.study_id = s.id) AS n_trials,
       (SELECT count(*) FROM trials t
         WHERE t.study_id = s.id AND t.state = 'RUNNING') AS n_running,
       (SELECT count(*) FROM trials t
         WHERE t.study_id = s.id AND t.state = 'COMPLETE') AS n_complete,
       (SELECT count(*) FROM trials t
         WHERE t.study_id = s.id AND t.state = 'PRUNED') AS n_pruned,
       (SELECT count(*) FROM trials t
         WHERE t.study_id = s.id AND t.state = 'FAILED') AS n_failed,
       bt.number AS best_number,
       bt.value AS best_value,
       s.created_at,
       s.updated_at
  FROM studies s
  JOIN study_best b ON b.study_id = s.id
  LEFT JOIN trials bt ON bt.id = b.trial_id;
