-- Rounds in a row that had to replace broken servers, and the instant before
-- which no server is built again (Note [Servers that keep failing]).
ALTER TABLE scaling_group ADD COLUMN build_failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE scaling_group ADD COLUMN build_after REAL;
