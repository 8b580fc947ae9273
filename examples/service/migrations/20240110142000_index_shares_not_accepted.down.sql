DROP INDEX shares_not_accepted_idx;
