"""
Applying otter2's CQL schema (``schema/cassandra/*.cql``) to a keyspace, as
``scripts/otter2-cql-schema`` does: the keyspace is created with the
replication asked for, then each file not yet applied is run, statement by
statement, and recorded in the keyspace's ``schema_migration`` table. Run it
again and nothing happens; a file interrupted half way runs again whole
(its statements are idempotent: ``IF NOT EXISTS``, and an ``ALTER TABLE ...
ADD`` of a column the table has already is skipped, as Cassandra before 4.1
has no ``ADD IF NOT EXISTS``).

test-case-name: tests.store.test_cassandra_schema
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from otter2.store.cassandra_session import connect
from otter2.store.interface import StoreUnavailable

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schema" / "cassandra"

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,47}")


class SchemaError(Exception):
    """The schema cannot be applied as asked; the message is one line."""


def replication_map(option: str) -> str:
    """
    The CQL replication map an option describes: ``simple:RF`` for
    SimpleStrategy, ``DC:RF[,DC:RF...]`` for NetworkTopologyStrategy.
    """
    parts = [part.strip().split(":") for part in option.split(",")]
    if not all(len(p) == 2 and _NAME.fullmatch(p[0]) and p[1].isdigit() and int(p[1]) > 0
               for p in parts):
        raise SchemaError(f"replication {option!r}: give simple:RF or DC:RF[,DC:RF...] "
                          "with positive replication factors")
    if parts[0][0] == "simple":
        if len(parts) > 1:
            raise SchemaError("replication simple:RF takes no data centres")
        return f"{{'class': 'SimpleStrategy', 'replication_factor': {int(parts[0][1])}}}"
    centres = ", ".join(f"'{dc}': {int(rf)}" for dc, rf in parts)
    return f"{{'class': 'NetworkTopologyStrategy', {centres}}}"


def statements(text: str) -> list[str]:
    """The statements of a CQL file: comments dropped, split at semicolons."""
    lines = [line.split("--", 1)[0] for line in text.splitlines()]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


_ADD_COLUMN = re.compile(r"ALTER\s+TABLE\s+(\w+)\s+ADD\s+(\w+)\s", re.IGNORECASE)


def _has_column(session: Any, keyspace: str, statement: str) -> bool:
    """Whether ``statement`` adds a column its table has already."""
    adding = _ADD_COLUMN.match(statement)
    if adding is None:
        return False
    table, column = adding.group(1).lower(), adding.group(2).lower()
    rows = session.execute("SELECT column_name FROM system_schema.columns "
                           "WHERE keyspace_name = %s AND table_name = %s", (keyspace, table))
    return column in {row["column_name"] if isinstance(row, dict) else row.column_name
                      for row in rows}


def apply_schema(session: Any, keyspace: str, replication: str,
                 schema_dir: Path = SCHEMA_DIR) -> list[str]:
    """
    Create ``keyspace`` if absent (with ``replication``, an option of
    `replication_map`; an existing keyspace keeps its own) and apply every
    schema file it lacks, in name order: the names applied now.
    """
    if not _NAME.fullmatch(keyspace):
        raise SchemaError(f"keyspace {keyspace!r}: letters, digits and _, starting with a "
                          "letter, at most 48")
    session.execute(f"CREATE KEYSPACE IF NOT EXISTS {keyspace} "
                    f"WITH replication = {replication_map(replication)}")
    session.execute(f"USE {keyspace}")
    session.execute("CREATE TABLE IF NOT EXISTS schema_migration "
                    "(name text PRIMARY KEY, applied_at timestamp)")
    done = {row["name"] if isinstance(row, dict) else row.name
            for row in session.execute("SELECT name FROM schema_migration")}
    applied = []
    for path in sorted(schema_dir.glob("*.cql")):
        if path.name in done:
            continue
        for statement in statements(path.read_text()):
            if not _has_column(session, keyspace, statement):
                session.execute(statement)
        session.execute("INSERT INTO schema_migration (name, applied_at) VALUES (%s, %s)",
                        (path.name, datetime.now(UTC)))
        applied.append(path.name)
    return applied


def main(argv: Sequence[str] | None = None) -> int:
    """``otter2-cql-schema``: apply the schema to a cluster, say what was applied."""
    parser = argparse.ArgumentParser(
        prog="otter2-cql-schema",
        description="Create otter2's keyspace and tables on Cassandra, or bring them up to "
                    "date; safe to run again.")
    parser.add_argument("--hosts", default="127.0.0.1",
                        help="contact points, comma-separated (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=9042, help="CQL port (default 9042)")
    parser.add_argument("--keyspace", default="otter2", help="keyspace (default otter2)")
    parser.add_argument("--replication", default="simple:1",
                        help="simple:RF (SimpleStrategy) or DC:RF[,DC:RF...] "
                             "(NetworkTopologyStrategy); default simple:1. Used only when "
                             "the keyspace is created.")
    parser.add_argument("--drop", action="store_true",
                        help="drop the keyspace instead (tests use it to clean up)")
    args = parser.parse_args(argv)
    try:
        replication_map(args.replication)
        cluster, session = connect(args.hosts.split(","), args.port, None)
    except (SchemaError, StoreUnavailable) as e:
        print(f"otter2-cql-schema: {e}", file=sys.stderr)
        return 1
    try:
        if args.drop:
            session.execute(f"DROP KEYSPACE IF EXISTS {args.keyspace}")
            print(f"otter2-cql-schema: dropped {args.keyspace}")
            return 0
        applied = apply_schema(session, args.keyspace, args.replication)
    except Exception as e:
        print(f"otter2-cql-schema: {' '.join(f'{type(e).__name__}: {e}'.split())}",
              file=sys.stderr)
        return 1
    finally:
        cluster.shutdown()
    print(f"otter2-cql-schema: {args.keyspace}: " +
          (f"applied {', '.join(applied)}" if applied else "up to date"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
