-- Audit trail of payout status transitions, written by a trigger.
CREATE TABLE payout_status_changes (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    payout_id  BIGINT NOT NULL REFERENCES payouts (id) ON DELETE CASCADE,
    old_status TEXT,
    new_status TEXT NOT NULL,
    changed_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX payout_status_changes_payout_id_changed_at_idx
    ON payout_status_changes (payout_id, changed_at);

CREATE FUNCTION log_payout_status_change() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO payout_status_changes (payout_id, old_status, new_status)
        VALUES (NEW.id, NULL, NEW.status);
    ELSIF NEW.status IS DISTINCT FROM OLD.status THEN
        INSERT INTO payout_status_changes (payout_id, old_status, new_status)
        VALUES (NEW.id, OLD.status, NEW.status);
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER payouts_log_status_change
    AFTER INSERT OR UPDATE OF status ON payouts
    FOR EACH ROW
    EXECUTE FUNCTION log_payout_status_change();

-- Backfill: one entry with the current status for existing payouts.
INSERT INTO payout_status_changes (payout_id, old_status, new_status, changed_at)
SELECT p.id, NULL, p.status, COALESCE(p.paid_at, p.created_at)
FROM payouts p;
