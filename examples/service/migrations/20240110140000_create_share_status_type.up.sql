-- Outcome of a submitted share as reported by the upstream pool.
CREATE TYPE share_status AS ENUM ('accepted', 'rejected', 'stale', 'duplicate');
