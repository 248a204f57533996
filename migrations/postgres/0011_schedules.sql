-- Schedules of `dbfleet serve` (`schedules:` in the configuration).
--
-- * `schedules`: one row per schedule name, created the first time a
--   control plane sees it. `paused` is the operator's switch (`dbfleet
--   schedule pause|resume`, the API). `owed_from`: a run whose time is
--   earlier is not owed, so a new schedule does not fire for a time before
--   it existed and a resumed one does not make up for its pause.
-- * `schedule_runs`: every run started, by the time it is for (`slot`: the
--   cron time, or the second of a manual trigger) and its batch. The row is
--   written in the transaction that creates the batch, under this primary
--   key: the lock that keeps two control planes from firing one slot.
-- * `batches.params`: the jobs' parameters of a batch (JSON, NULL for a
--   kind's defaults), so a retry of its failed jobs runs the same work.

CREATE TABLE schedules (
    name       VARCHAR(128) PRIMARY KEY,
    paused     BOOLEAN      NOT NULL DEFAULT FALSE,
    changed_by TEXT,
    owed_from  TIMESTAMPTZ  NOT NULL,
    created_at TIMESTAMPTZ  NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ  NOT NULL DEFAULT now()
);

CREATE TABLE schedule_runs (
    schedule   VARCHAR(128) NOT NULL,
    slot       TIMESTAMPTZ  NOT NULL,
    manual     BOOLEAN      NOT NULL,
    batch_id   UUID         NOT NULL,
    started_by TEXT         NOT NULL,
    started_at TIMESTAMPTZ  NOT NULL,
    PRIMARY KEY (schedule, slot)
);

ALTER TABLE batches ADD COLUMN params TEXT;
