-- Human-facing payout batch numbers (shown on invoices and in the UI).
CREATE SEQUENCE payout_batch_seq AS BIGINT START WITH 1000 INCREMENT BY 1 NO CYCLE;
