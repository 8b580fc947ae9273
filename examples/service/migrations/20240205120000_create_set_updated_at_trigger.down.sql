DROP TRIGGER miners_set_updated_at ON miners;
DROP TRIGGER pools_set_updated_at ON pools;
ALTER TABLE miners DROP COLUMN updated_at;
ALTER TABLE pools DROP COLUMN updated_at;
DROP FUNCTION set_updated_at();
