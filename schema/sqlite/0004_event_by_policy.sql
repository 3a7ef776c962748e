-- A policy's pending event is found by the policy (replaced on update, removed
-- on delete), besides by (bucket, trigger) for the scheduler.
CREATE INDEX schedule_event_by_policy ON schedule_event (tenant_id, group_id, policy_id);
