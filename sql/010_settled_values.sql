-- 010_settled_values: study_counts.settled (008) moves with a write to the
-- reports (trial_values) of a trial that is not RUNNING too, so a page of
-- finished trials' learning curves stays what it is while the study grows,
-- as their rows do, and the API keeps it as it keeps their pages (api.c).
-- Kestrel never writes a finished trial's reports (storage refuses a report
-- on a trial that is not RUNNING; a trial's end writes trial_metrics), so
-- only an edit by hand fires these. Every report pays the
-- WHEN's look-up of its trial's state by primary key, and nothing else: the
-- body runs only when the trial is finished (1-2 us a report, measured with
-- Python's sqlite3 on this machine, within noise). A cascade delete of a
-- trial's values finds its row gone (the WHEN is NULL); the trial's own
-- delete moved settled already.

CREATE TRIGGER study_settled_values_insert AFTER INSERT ON trial_values
WHEN (SELECT state FROM trials WHERE id = NEW.trial_id) != 'RUNNING' BEGIN
    UPDATE study_counts SET settled = settled + 1
     WHERE study_id = (SELECT study_id FROM trials WHERE id = NEW.trial_id);
END;

CREATE TRIGGER study_settled_values_update AFTER UPDATE ON trial_values
WHEN (SELECT state FROM trials WHERE id = OLD.trial_id) != 'RUNNING'
  OR (SELECT state FROM trials WHERE id = NEW.trial_id) != 'RUNNING' BEGIN
    UPDATE study_counts SET settled = settled + 1
     WHERE study_id IN (SELECT study_id FROM trials WHERE id IN (OLD.trial_id, NEW.trial_id));
END;

CREATE TRIGGER study_settled_values_delete AFTER DELETE ON trial_values
WHEN (SELECT state FROM trials WHERE id = OLD.trial_id) != 'RUNNING' BEGIN
    UPDATE study_counts SET settled = settled + 1
     WHERE study_id = (SELECT study_id FROM trials WHERE id = OLD.trial_id);
END;
