-- A transaction that adds outbox rows notifies `outbox_pending` as it commits (NOTIFY is
-- delivered at commit, one per transaction however many rows), so that a listening relay
-- publishes at once instead of at its next poll (up to 100 ms later, twice on an
-- optimization's way: its start, then its chunks).
CREATE FUNCTION notify_outbox_pending() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('outbox_pending', '');
    RETURN NULL;
END $$;

CREATE TRIGGER outbox_pending AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION notify_outbox_pending();
