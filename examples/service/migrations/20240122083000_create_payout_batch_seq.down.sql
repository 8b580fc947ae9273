DROP SEQUENCE payout_batch_seq;
