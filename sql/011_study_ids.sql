-- 011_study_ids: a study's id is never given again (AUTOINCREMENT). Before,
-- studies.id was a plain INTEGER PRIMARY KEY, and SQLite gave the id of a
-- deleted study, when it was the largest, to the next study made: what is
-- kept by id took the old study for the new (a lease row, which outlives
-- its study, named the new one; a `kestrel serve` that had given up on a
-- study deleted meanwhile stored its FAILED on the new one).
--
-- SQLite cannot add AUTOINCREMENT to a table, so the table is made anew
-- (sqlite.org/lang_altertable.html, "other kinds of table schema changes"):
-- storage_open runs every migration with foreign_keys off (dropping the
-- old table would otherwise delete every trial, count and enqueued row by
-- cascade) and refuses one that leaves a row without its parent. The rows
-- keep their ids, so trials, study_counts and enqueued keep their parents.
-- legacy_alter_table: the views that read studies (001) stay as they are
-- and find the new table by its name; without it the rename refuses views
-- whose table is, for that moment, gone. Its one trigger goes with the old
-- table and is made again as 004 made it. The sequence starts above every
-- id a row still names: a deleted largest study that left no lease row is
-- remembered nowhere, and its id may come once more. See docs/schema.md.

PRAGMA legacy_alter_table = ON;

CREATE TABLE studies_011 (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL UNIQUE,
    spec        TEXT NOT NULL CHECK (json_valid(spec)),
    spec_hash   TEXT NOT NULL,
    metric      TEXT NOT NULL,
    direction   TEXT NOT NULL CHECK (direction IN ('minimize', 'maximize')),
    state       TEXT NOT NULL DEFAULT 'RUNNING'
                CHECK (state IN ('RUNNING', 'STOPPED', 'COMPLETE', 'FAILED')),
    created_at  REAL NOT NULL,
    updated_at  REAL NOT NULL,
    state_reason TEXT,
    spec_dir    TEXT,
    note        TEXT
);

INSERT INTO studies_011 (id, name, spec, spec_hash, metric, direction, state, created_at,
                         updated_at, state_reason, spec_dir, note)
SELECT id, name, spec, spec_hash, metric, direction, state, created_at,
       updated_at, state_reason, spec_dir, note
  FROM studies;

DROP TABLE studies;
ALTER TABLE studies_011 RENAME TO studies;

DELETE FROM sqlite_sequence WHERE name IN ('studies', 'studies_011');
INSERT INTO sqlite_sequence (name, seq)
VALUES ('studies', max(coalesce((SELECT max(id) FROM studies), 0),
                       coalesce((SELECT max(study_id) FROM leases), 0)));

CREATE TRIGGER study_counts_new_study AFTER INSERT ON studies BEGIN
    INSERT INTO study_counts (study_id) VALUES (NEW.id);
END;

PRAGMA legacy_alter_table = OFF;
