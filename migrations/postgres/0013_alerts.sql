-- Alerts: the state of each (rule, subject) and every notification sent.
--
-- * `alert_states`: one row per (rule, subject) that ever fired: `firing`
--   or `resolved` since `since`, what the evaluation said of it. A change
--   of state is written with a conditional statement (insert if absent,
--   update only from the other state), so of several control planes
--   evaluating at once exactly one records each transition. `to_send` is 1
--   while the transition at `since` still has channels to reach (0 once
--   delivered, or when it was silenced); a control plane sends only the
--   rows it claimed (`claimed_until`), and a claim expires, so a transition
--   is never lost and never sent by two at once. A batch's alert (subject:
--   the batch id) only ever fires.
-- * `alert_sends`: each delivery to one channel of one transition (the
--   state and its `since`), with its outcome and attempts; a channel that
--   took a transition is not sent it again.
-- * `alert_marks`: how far the evaluation has read (the batches finished).

CREATE TABLE alert_states (
    rule          TEXT        NOT NULL,
    subject       TEXT        NOT NULL,
    state         TEXT        NOT NULL CHECK (state IN ('firing', 'resolved')),
    since         TIMESTAMPTZ NOT NULL,
    summary       TEXT        NOT NULL,
    details       JSONB       NOT NULL DEFAULT '{}',
    to_send       INTEGER     NOT NULL,
    claimed_until TIMESTAMPTZ,
    last_sent_at  TIMESTAMPTZ,
    PRIMARY KEY (rule, subject)
);
CREATE INDEX alert_states_to_send ON alert_states (to_send);

CREATE TABLE alert_sends (
    id       BIGSERIAL   PRIMARY KEY,
    channel  TEXT        NOT NULL,
    rule     TEXT        NOT NULL,
    subject  TEXT        NOT NULL,
    state    TEXT        NOT NULL,
    since    TIMESTAMPTZ NOT NULL,
    status   TEXT        NOT NULL CHECK (status IN ('delivered', 'failed')),
    attempts INTEGER     NOT NULL,
    error    TEXT,
    sent_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX alert_sends_transition ON alert_sends (rule, subject, since);

CREATE TABLE alert_marks (
    name TEXT        PRIMARY KEY,
    at   TIMESTAMPTZ NOT NULL
);
