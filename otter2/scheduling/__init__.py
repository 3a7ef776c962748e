"""
Scheduled policies: firing a due event exactly once, as an Effect.

# Note [Exactly once]
A schedule policy has one pending event in the store: (bucket, trigger,
policy, version). Firing it is decided purely (``firing.decide``: the same
execution as the API's, then the event that follows) and written in one
store operation, ``fire_event``, that consumes the event *and* saves the
group-state change it caused, arms the next event and marks the group
divergent, all or nothing:

- the state is saved by compare-and-set on its version, so a concurrent API
  change makes the whole write fail (nothing is consumed) and the firing is
  decided again from a fresh read;
- the event must still be pending, exactly as it was read, or the write
  fails with `StaleEvent` and changes nothing: an event fires at most once
  even if two schedulers read it, and a policy updated meanwhile (its event
  replaced) does not fire with its old arguments.

So a crash at any instant leaves the event either pending and unexecuted
(the next tick fires it) or consumed with its execution done: never lost,
never doubled. SQLite gives this with one transaction. The Cassandra backend
keeps it with one lightweight transaction on the group's row that compares
the state's version and the group's pending events (where the event must
still be), the bucketed event rows being an index written around it: see
Note [Cassandra events] in ``otter2.store.cassandra_events``.

test-case-name: tests.scheduling.test_firing
"""
