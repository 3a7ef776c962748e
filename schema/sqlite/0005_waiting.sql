-- Why the latest iteration did not converge a group that is not in ERROR, as a
-- JSON list of sentences (empty once converged): the state's "waiting" field.
ALTER TABLE scaling_group ADD COLUMN waiting TEXT NOT NULL DEFAULT '[]';
