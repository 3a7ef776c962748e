-- The latest fencing token given for each bucket (claim_bucket): a write
-- fenced with an older token is refused. See Note [Fencing] in otter2.partition.
CREATE TABLE bucket_owner (
    bucket INTEGER PRIMARY KEY,
    token INTEGER NOT NULL
);
