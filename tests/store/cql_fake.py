"""
A fake of cassandra-driver's ``Session`` that runs the subset of CQL otter2
uses against tables in dictionaries: no server can run on these machines.

It keeps Cassandra's rules where otter2 could break them: a query names the
whole partition key (or none, a scan of the table); clustering restrictions
are a prefix, only the last a range; rows of a partition come in clustering
order, partitions in an order that is not their keys'; an INSERT or UPDATE
without a condition creates the row it names (upsert); a lightweight
transaction (``IF``) answers ``[applied]`` and, when refused, the values it
found (every column for ``IF NOT EXISTS``, the compared ones otherwise, none
when the row is absent); a batch holds no condition; a value must suit its
column's type. Of the schema it reads CREATE, USE, DROP and ``ALTER TABLE
... ADD``, and lists the columns in ``system_schema.columns``. Like the driver, it answers on a thread of its own, through
``ResponseFuture``-like callbacks, page by page (``page_size``).

Every statement is recorded in ``executed`` with its parameters and its
consistency levels, so that tests can check what the store sends. The CQL it
reads is in `tests.store.cql_grammar`, the statements on rows in
`tests.store.cql_rows`.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

from attrs import frozen
from cassandra import ConsistencyLevel, InvalidRequest

from tests.store.cql_grammar import TYPES, Parser, Table, split_statements, tokens
from tests.store.cql_rows import delete, insert, select, update


@frozen
class Executed:
    """A statement as the fake received it."""

    cql: str
    params: tuple[Any, ...]
    consistency: str
    serial: str | None



class FakeFuture:
    """What ``execute_async`` returns: the result, delivered page by page."""

    def __init__(self, session: FakeSession, work: Callable[[], list[dict[str, Any]]]) -> None:
        self._session = session
        self._work = work
        self._pages: list[list[dict[str, Any]]] = []
        self.has_more_pages = False

    def add_callbacks(self, callback: Callable[[Any], object],
                      errback: Callable[[BaseException], object]) -> None:
        self._callback, self._errback = callback, errback
        self._session.submit(self._run)

    def _run(self) -> None:
        try:
            rows = self._work()
        except Exception as error:
            self._errback(error)
            return
        size = self._session.page_size
        self._pages = [rows[i:i + size] for i in range(0, len(rows), size)] or [[]]
        self._deliver()

    def _deliver(self) -> None:
        page = self._pages.pop(0)
        self.has_more_pages = bool(self._pages)
        self._callback(page)

    def start_fetching_next_page(self) -> None:
        self._session.submit(self._deliver)


class FakeSession:
    """A driver session over tables in memory; see the module docstring."""

    def __init__(self, keyspace: str | None = None, threaded: bool = True) -> None:
        self.keyspaces: dict[str, dict[str, Any]] = {}
        self.keyspace = keyspace
        self.executed: list[Executed] = []
        self.page_size = 5000
        #: Statements matching one of these fail once, as a timeout would.
        self.failures: list[Callable[[str], bool]] = []
        #: (matches, action): the action runs once, just before the first statement
        #: that matches, as another client's write landing at that moment would.
        self.before: list[tuple[Callable[[str], bool], Callable[[], object]]] = []
        self._queue: queue.SimpleQueue[Callable[[], None] | None] | None = None
        if threaded:
            self._queue = queue.SimpleQueue()
            self._thread = threading.Thread(target=self._serve, name="fake-cassandra")
            self._thread.start()
        if keyspace is not None:
            self.keyspaces[keyspace] = {"replication": None, "tables": {}}

    # -- the driver's interface -------------------------------------------------

    def execute_async(self, query: Any, parameters: Any = None) -> FakeFuture:
        text = getattr(query, "query_string", query)
        consistency = getattr(query, "consistency_level", None)
        serial = getattr(query, "serial_consistency_level", None)
        self.executed.append(Executed(
            text, tuple(parameters or ()),
            ConsistencyLevel.value_to_name.get(consistency, "default"),
            None if serial is None else ConsistencyLevel.value_to_name[serial]))
        return FakeFuture(self, lambda: self.run(text, tuple(parameters or ())))

    def execute(self, query: Any, parameters: Any = None) -> list[dict[str, Any]]:
        """The blocking call (the schema tool's)."""
        text = getattr(query, "query_string", query)
        self.executed.append(Executed(text, tuple(parameters or ()), "default", None))
        return self.run(text, tuple(parameters or ()))

    def set_keyspace(self, keyspace: str) -> None:
        self.run(f"USE {keyspace}", ())

    def submit(self, work: Callable[[], None]) -> None:
        if self._queue is None:
            work()
        else:
            self._queue.put(work)

    def shutdown(self) -> None:
        if self._queue is not None:
            self._queue.put(None)
            self._thread.join()
            self._queue = None

    def _serve(self) -> None:
        assert self._queue is not None
        while (work := self._queue.get()) is not None:
            work()

    # -- tables -------------------------------------------------------------------

    def table(self, name: str) -> Table:
        keyspace, _, table = name.rpartition(".")
        if (keyspace, table) == ("system_schema", "columns"):
            return self._columns()
        space = self.keyspaces.get(keyspace or self.keyspace or "")
        if space is None or table not in space["tables"]:
            raise InvalidRequest(f"unconfigured table {name}")
        found: Table = space["tables"][table]
        return found

    def _columns(self) -> Table:
        """``system_schema.columns``, as it is now (read only: it is made afresh)."""
        listing = Table({"keyspace_name": "text", "table_name": "text", "column_name": "text",
                         "type": "text"}, ["keyspace_name"], ["table_name", "column_name"])
        for keyspace, space in self.keyspaces.items():
            for table, schema in space["tables"].items():
                for column, kind in schema.columns.items():
                    key = (keyspace, table, column)
                    listing.rows[key] = {"keyspace_name": keyspace, "table_name": table,
                                         "column_name": column, "type": kind}
                    listing.markers.add(key)
        return listing

    def rows(self, name: str) -> list[dict[str, Any]]:
        """Every live row of a table (for tests)."""
        table = self.table(name)
        return [dict(table.rows[key]) for key in sorted(table.rows) if table.live(key)]

    # -- statements ---------------------------------------------------------------

    def run(self, text: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
        for matches, action in list(self.before):
            if matches(text):
                self.before.remove((matches, action))
                action()
        for failure in self.failures:
            if failure(text):
                self.failures.remove(failure)
                raise InvalidRequest(f"the fake was told to fail: {text[:40]}")
        values = iter(params)
        toks = tokens(text)
        if toks and toks[-1] == ";":
            toks = toks[:-1]
        parser = Parser(toks, values)
        if parser.take("BEGIN"):
            parser.take("UNLOGGED")
            parser.expect("BATCH")
            if [t.upper() for t in toks[-2:]] != ["APPLY", "BATCH"]:
                raise InvalidRequest("a batch ends with APPLY BATCH")
            statements = split_statements(toks[parser.i:-2])
            changes = []
            for statement in statements:
                sub = Parser(statement, values)
                if any(t.upper() == "IF" for t in statement):
                    raise InvalidRequest("the fake takes no conditions in batches")
                if sub.peek("SELECT"):
                    raise InvalidRequest("a batch holds no SELECT")
                changes.append(sub)
            for sub in changes:
                self._statement(sub)
            result: list[dict[str, Any]] = []
        else:
            result = self._statement(parser)
        if next(values, _END) is not _END:
            raise InvalidRequest(f"too many values for {text[:60]}")
        return result

    def _statement(self, p: Parser) -> list[dict[str, Any]]:
        rows: dict[str, Callable[[Callable[[str], Table], Parser], list[dict[str, Any]]]] = {
            "SELECT": select, "INSERT": insert, "UPDATE": update, "DELETE": delete}
        schema: dict[str, Callable[[Parser], list[dict[str, Any]]]] = {
            "CREATE": self._create, "USE": self._use, "DROP": self._drop,
            "ALTER": self._alter}
        for verb in (*rows, *schema):
            if p.take(verb):
                result = rows[verb](self.table, p) if verb in rows else schema[verb](p)
                if not p.done():
                    raise InvalidRequest(f"the fake cannot read {p.toks[p.i:]}")
                return result
        raise InvalidRequest(f"the fake knows no statement {p.toks[:3]}")

    def _use(self, p: Parser) -> list[dict[str, Any]]:
        name = p.name()
        if name not in self.keyspaces:
            raise InvalidRequest(f"Keyspace '{name}' does not exist")
        self.keyspace = name
        return []

    def _drop(self, p: Parser) -> list[dict[str, Any]]:
        p.expect("KEYSPACE")
        exists = p.take("IF", "EXISTS")
        name = p.name()
        if name not in self.keyspaces and not exists:
            raise InvalidRequest(f"Keyspace '{name}' does not exist")
        self.keyspaces.pop(name, None)
        return []

    def _alter(self, p: Parser) -> list[dict[str, Any]]:
        """``ALTER TABLE t ADD column type``: the one change otter2's schema makes."""
        p.expect("TABLE")
        table = self.table(p.name())
        p.expect("ADD")
        column, kind = p.name(), p.name()
        if kind not in TYPES:
            raise InvalidRequest(f"the fake knows no type {kind}")
        if column in table.columns:
            raise InvalidRequest(f"Invalid column name {column} because it conflicts with "
                                 "an existing column")
        table.columns[column] = kind
        return []

    def _create(self, p: Parser) -> list[dict[str, Any]]:
        if p.take("KEYSPACE"):
            quiet = p.take("IF", "NOT", "EXISTS")
            name = p.name()
            p.expect("WITH", "replication", "=")
            replication = p.term()
            if p.take("AND", "durable_writes", "="):
                p.term()
            if name in self.keyspaces and not quiet:
                raise InvalidRequest(f"Keyspace {name} already exists")
            self.keyspaces.setdefault(name, {"replication": replication, "tables": {}})
            return []
        p.expect("TABLE")
        quiet = p.take("IF", "NOT", "EXISTS")
        name = p.name()
        p.expect("(")
        columns: dict[str, str] = {}
        partition: list[str] = []
        clustering: list[str] = []
        while not p.take(")"):
            if p.take("PRIMARY", "KEY"):
                p.expect("(")
                if p.take("("):
                    while not p.take(")"):
                        partition.append(p.name())
                        p.take(",")
                else:
                    partition.append(p.name())
                while p.take(","):
                    clustering.append(p.name())
                p.expect(")")
            else:
                column, kind = p.name(), p.name()
                columns[column] = kind
                if p.take("PRIMARY", "KEY"):
                    partition.append(column)
            p.take(",")
        descending: set[str] = set()
        if p.take("WITH"):
            if p.take("CLUSTERING", "ORDER", "BY", "("):
                while not p.take(")"):
                    column = p.name()
                    if column not in clustering:
                        raise InvalidRequest(f"{column} is not a clustering column")
                    if p.take("DESC"):
                        descending.add(column)
                    else:
                        p.expect("ASC")
                    p.take(",")
            p.i = len(p.toks)  # other table options: nothing to keep
        if not partition:
            raise InvalidRequest("a table needs a PRIMARY KEY")
        keyspace, _, table = name.rpartition(".")
        space = self.keyspaces.get(keyspace or self.keyspace or "")
        if space is None:
            raise InvalidRequest("no keyspace has been specified")
        if table in space["tables"]:
            if quiet:
                return []
            raise InvalidRequest(f"Table {name} already exists")
        space["tables"][table] = Table(columns, partition, clustering, descending)
        return []


_END = object()
