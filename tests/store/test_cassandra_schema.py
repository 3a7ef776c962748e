"""
Tests for applying the CQL schema (``scripts/otter2-cql-schema``), on a fake
driver session that runs the schema files' statements.
"""

from __future__ import annotations

import io
from contextlib import redirect_stderr
from pathlib import Path

from cassandra import InvalidRequest
from twisted.trial.unittest import SynchronousTestCase

from otter2.store.cassandra_schema import (
    SCHEMA_DIR,
    SchemaError,
    apply_schema,
    main,
    replication_map,
    statements,
)
from tests.e2e.support import free_port
from tests.store.cql_fake import FakeSession


class ReplicationTests(SynchronousTestCase):
    """The replication option becomes the keyspace's replication map."""

    def test_simple_strategy(self) -> None:
        """simple:RF is SimpleStrategy with that replication factor."""
        self.assertEqual(replication_map("simple:3"),
                         "{'class': 'SimpleStrategy', 'replication_factor': 3}")

    def test_network_topology(self) -> None:
        """DC:RF pairs are NetworkTopologyStrategy with a factor per data centre."""
        self.assertEqual(replication_map("dc1:3,dc2:2"),
                         "{'class': 'NetworkTopologyStrategy', 'dc1': 3, 'dc2': 2}")

    def test_malformed(self) -> None:
        """A malformed option, a zero factor or a quote is refused, naming the forms."""
        for option in ("3", "simple:0", "dc1:3,dc'2:1", "simple:1,dc1:2", ""):
            with self.assertRaises(SchemaError):
                replication_map(option)


class ApplySchemaTests(SynchronousTestCase):
    """Each schema file is applied once per keyspace and recorded."""

    def setUp(self) -> None:
        self.session = FakeSession(threaded=False)

    def test_applies_once(self) -> None:
        """The first run creates the keyspace and every table and records each file; a
        second run applies nothing."""
        files = sorted(p.name for p in SCHEMA_DIR.glob("*.cql"))
        self.assertEqual(apply_schema(self.session, "ks", "dc1:3"), files)
        self.assertEqual(self.session.keyspaces["ks"]["replication"],
                         "{ 'class' : 'NetworkTopologyStrategy' , 'dc1' : 3 }")
        self.assertEqual(
            sorted(self.session.keyspaces["ks"]["tables"]),
            ["bucket_owner", "divergent", "executions", "journal", "journal_ids",
             "policy_webhooks", "scaling_group", "scaling_policies",
             "scaling_schedule_v2", "schema_migration", "webhook_keys"])
        self.assertEqual([row["name"] for row in self.session.rows("schema_migration")], files)
        self.assertEqual(apply_schema(self.session, "ks", "dc1:3"), [])

    def test_interrupted_file_runs_again(self) -> None:
        """A file that failed half way is not recorded, and runs whole next time."""
        self.session.failures.append(lambda cql: "webhook_keys" in cql)
        with self.assertRaises(InvalidRequest):
            apply_schema(self.session, "ks", "simple:1")
        self.assertEqual(self.session.rows("schema_migration"), [])
        self.assertEqual(apply_schema(self.session, "ks", "simple:1"),
                         sorted(p.name for p in SCHEMA_DIR.glob("*.cql")))

    def test_interrupted_after_adding_a_column(self) -> None:
        """A file that added a column and then failed runs again: the column it has
        already is not added twice (Cassandra would refuse it)."""
        self.session.failures.append(lambda cql: "bucket_owner" in cql)
        with self.assertRaises(InvalidRequest):
            apply_schema(self.session, "ks", "simple:1")
        self.assertIn("fences", self.session.table("ks.scaling_group").columns)
        self.assertEqual([row["name"] for row in self.session.rows("schema_migration")],
                         ["0001_setup.cql"])
        self.assertEqual(apply_schema(self.session, "ks", "simple:1"), ["0002_fencing.cql", "0003_journal.cql"])
        self.assertIn("bucket_owner", self.session.keyspaces["ks"]["tables"])

    def test_new_migration(self) -> None:
        """A file added later is applied on its own to a keyspace that has the others."""
        apply_schema(self.session, "ks", "simple:1")
        directory = Path(self.mktemp())
        directory.mkdir()
        for path in SCHEMA_DIR.glob("*.cql"):
            (directory / path.name).write_text(path.read_text())
        (directory / "9999_more.cql").write_text(
            "-- a later table\nCREATE TABLE IF NOT EXISTS more (k int PRIMARY KEY);\n")
        self.assertEqual(apply_schema(self.session, "ks", "simple:1", directory),
                         ["9999_more.cql"])
        self.assertIn("more", self.session.keyspaces["ks"]["tables"])

    def test_bad_keyspace_name(self) -> None:
        """A keyspace name CQL would not take unquoted is refused before anything runs."""
        with self.assertRaises(SchemaError):
            apply_schema(self.session, "otter2; DROP", "simple:1")
        self.assertEqual(self.session.executed, [])

    def test_statements_of_a_file(self) -> None:
        """Comments are dropped and statements split at semicolons."""
        self.assertEqual(statements("-- c\nA b; -- d\nC\n d;\n"), ["A b", "C\n d"])


class CommandTests(SynchronousTestCase):
    """``scripts/otter2-cql-schema`` fails in one line, before changing anything."""

    def run_command(self, *args: str) -> tuple[int, str]:
        errors = io.StringIO()
        with redirect_stderr(errors):
            status = main(list(args))
        return status, errors.getvalue()

    def test_unreachable(self) -> None:
        """A cluster no node answers for is named, with the reason."""
        port = free_port()
        self.assertEqual(self.run_command("--port", str(port)),
                         (1, f"otter2-cql-schema: cannot reach Cassandra at 127.0.0.1 port "
                             f"{port}: connection refused\n"))

    def test_bad_replication(self) -> None:
        """A malformed replication option is refused before connecting."""
        status, error = self.run_command("--replication", "three", "--port", "1")
        self.assertEqual(status, 1)
        self.assertIn("give simple:RF or DC:RF", error)
