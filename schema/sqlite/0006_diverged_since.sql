-- The instant from which a group has stayed diverged and unchanged, kept once the
-- divergence alarm fired for it (NULL otherwise): shown to its owner as "waiting".
ALTER TABLE scaling_group ADD COLUMN diverged_since REAL;
