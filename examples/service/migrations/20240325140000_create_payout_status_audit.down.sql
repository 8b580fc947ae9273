DROP TRIGGER payouts_log_status_change ON payouts;
DROP FUNCTION log_payout_status_change();
DROP TABLE payout_status_changes;
