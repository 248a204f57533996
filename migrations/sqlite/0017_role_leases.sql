-- `role_leases`: which control plane does a job that only one may do at a
-- time (the scheduler), taken and renewed in one upsert, and expiring on
-- its own, so a replica that dies holds the role only until `expires_at`.

CREATE TABLE role_leases (
    role       TEXT         PRIMARY KEY,
    holder     TEXT         NOT NULL,
    expires_at TEXT         NOT NULL
);
