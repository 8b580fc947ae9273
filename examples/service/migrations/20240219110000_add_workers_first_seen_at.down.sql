ALTER TABLE workers DROP COLUMN first_seen_at;
