-- Same change as `migrations/postgres/0016_alert_states_once.sql` (read
-- its header), in SQLite dialect: the details are JSON text (a CASE, so
-- a text that is not JSON is never parsed).

ALTER TABLE alert_states ADD COLUMN fires_once INTEGER NOT NULL DEFAULT 0;

UPDATE alert_states SET fires_once = 1
WHERE CASE WHEN json_valid(details)
           THEN json_extract(details, '$.id') = subject
                AND json_type(details, '$.finished_at') IS NOT NULL
           ELSE 0 END;
