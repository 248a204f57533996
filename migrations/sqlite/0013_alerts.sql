-- Same change as `migrations/postgres/0013_alerts.sql` (read its header),
-- in SQLite dialect: timestamps and JSON TEXT in the store's fixed forms
-- (see 0001).

CREATE TABLE alert_states (
    rule          TEXT    NOT NULL,
    subject       TEXT    NOT NULL,
    state         TEXT    NOT NULL CHECK (state IN ('firing', 'resolved')),
    since         TEXT    NOT NULL,
    summary       TEXT    NOT NULL,
    details       TEXT    NOT NULL DEFAULT '{}',
    to_send       INTEGER NOT NULL,
    claimed_until TEXT,
    last_sent_at  TEXT,
    PRIMARY KEY (rule, subject)
);
CREATE INDEX alert_states_to_send ON alert_states (to_send);

CREATE TABLE alert_sends (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    channel  TEXT    NOT NULL,
    rule     TEXT    NOT NULL,
    subject  TEXT    NOT NULL,
    state    TEXT    NOT NULL,
    since    TEXT    NOT NULL,
    status   TEXT    NOT NULL CHECK (status IN ('delivered', 'failed')),
    attempts INTEGER NOT NULL,
    error    TEXT,
    sent_at  TEXT    NOT NULL
);
CREATE INDEX alert_sends_transition ON alert_sends (rule, subject, since);

CREATE TABLE alert_marks (
    name TEXT PRIMARY KEY,
    at   TEXT NOT NULL
);
