-- PostgreSQL's migration 0018 notifies followers of a batch as it moves.
-- SQLite has no notifications: its followers read the batch every poll,
-- so there is nothing to change here. Kept so both trees count the same.
SELECT 1;
