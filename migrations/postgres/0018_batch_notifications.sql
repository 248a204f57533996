-- Word that a batch moved, for whoever follows it (`store/changes.rs`):
-- every change of a batch's counters or status notifies the channel
-- `dbfleet_batches` with the batch's id, delivered when the transaction
-- that made it commits (notifications of the same id in one transaction
-- are sent once). Whoever moves a batch (the folder, the sweeper, a cancel)
-- needs no statement of its own for it, and no privilege: `pg_notify`
-- takes none.

CREATE FUNCTION dbfleet_notify_batch() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('dbfleet_batches', NEW.id::text);
    RETURN NULL;
END;
$$;

CREATE TRIGGER batches_notify
    AFTER UPDATE ON batches
    FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status
          OR OLD.succeeded IS DISTINCT FROM NEW.succeeded
          OR OLD.failed IS DISTINCT FROM NEW.failed
          OR OLD.pending IS DISTINCT FROM NEW.pending)
    EXECUTE FUNCTION dbfleet_notify_batch();
