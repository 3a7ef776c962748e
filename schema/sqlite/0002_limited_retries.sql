-- How many iterations in a row waited on servers in transient states: kept
-- with the group so that a restart does not forget it (Note [Looking again]).
ALTER TABLE scaling_group ADD COLUMN limited_retries INTEGER NOT NULL DEFAULT 0;
