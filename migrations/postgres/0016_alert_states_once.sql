-- Which alert states belong to a rule that fires once per subject and
-- never resolves (`batch_failed`: a subject per batch), so retention can
-- tell them from a standing condition's.
--
-- A batch's alert stays `firing` for ever, one row per failed batch; once
-- its batch is behind the evaluation's mark nothing reads it again, so
-- `dbfleet migrate --maintain` deletes it past `retention.alert_records`,
-- as it does a resolved one. A standing condition's firing row is never
-- deleted: without it the condition would alert again.
--
-- The rows already stored are marked from what a batch's alert records:
-- its details are the batch (`id` is the subject, and it has ended, so
-- `finished_at` is set).

ALTER TABLE alert_states ADD COLUMN fires_once INTEGER NOT NULL DEFAULT 0;

UPDATE alert_states SET fires_once = 1
WHERE details ->> 'id' = subject AND details ? 'finished_at';
