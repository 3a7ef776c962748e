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
column's type. Like the driver, it answers on a thread of its own, through
``ResponseFuture``-like callbacks, page by page (``page_size``).

Every statement is recorded in ``executed`` with its parameters and its
consistency levels, so that tests can check what the store sends.
"""

from __future__ import annotations

import queue
import re
import threading
import zlib
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from attrs import define, field, frozen
from cassandra import ConsistencyLevel, InvalidRequest

_TOKEN = re.compile(r"\s*(?:(--[^\n]*)|(%s)|('(?:[^']|'')*')|(-?\d+(?:\.\d+)?)|"
                    r"(\w+(?:\.\w+)?)|(<=|>=|!=|[=<>(),;*{}:\[\]]))")


def tokens(text: str) -> list[str]:
    """The tokens of a CQL text, comments dropped."""
    found, position = [], 0
    text = text.strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise InvalidRequest(f"the fake cannot read {text[position:position + 20]!r}")
        position = match.end()
        if match.group(1) is None:
            found.append(next(g for g in match.groups()[1:] if g is not None))
    return found


@frozen
class Executed:
    """A statement as the fake received it."""

    cql: str
    params: tuple[Any, ...]
    consistency: str
    serial: str | None


@define
class Table:
    """A table's schema and rows: primary key -> column -> value."""

    columns: dict[str, str]
    partition: list[str]
    clustering: list[str]
    rows: dict[tuple[Any, ...], dict[str, Any]] = field(factory=dict)
    markers: set[tuple[Any, ...]] = field(factory=set)

    @property
    def key(self) -> list[str]:
        return self.partition + self.clustering

    def live(self, key: tuple[Any, ...]) -> bool:
        row = self.rows.get(key)
        return row is not None and (key in self.markers or any(
            v is not None for c, v in row.items() if c not in self.key))


_TYPES: dict[str, Callable[[Any], bool]] = {
    "ascii": lambda v: isinstance(v, str) and v.isascii(),
    "text": lambda v: isinstance(v, str),
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool) and -2**31 <= v < 2**31,
    "bigint": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "double": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "timestamp": lambda v: isinstance(v, (datetime, int)),
}


class Parser:
    """Reads one statement's tokens, taking a bound value for each ``%s``."""

    def __init__(self, toks: list[str], params: Iterator[Any]) -> None:
        self.toks, self.i, self.params = toks, 0, params

    def peek(self, *words: str) -> bool:
        ahead = self.toks[self.i:self.i + len(words)]
        return [t.upper() for t in ahead] == [w.upper() for w in words]

    def take(self, *words: str) -> bool:
        if self.peek(*words):
            self.i += len(words)
            return True
        return False

    def expect(self, *words: str) -> None:
        if not self.take(*words):
            raise InvalidRequest(f"expected {' '.join(words)} at {self.toks[self.i:self.i + 4]}")

    def name(self) -> str:
        token = self.toks[self.i]
        if not re.fullmatch(r"\w+(\.\w+)?", token):
            raise InvalidRequest(f"expected a name, found {token!r}")
        self.i += 1
        return token.lower()

    def term(self) -> Any:
        token = self.toks[self.i]
        self.i += 1
        if token == "%s":
            return next(self.params)
        if token.startswith("'"):
            return token[1:-1].replace("''", "'")
        if token.lower() in ("true", "false"):
            return token.lower() == "true"
        if token.lower() == "null":
            return None
        if re.fullmatch(r"-?\d+", token):
            return int(token)
        if re.fullmatch(r"-?\d+\.\d+", token):
            return float(token)
        if token == "{":
            depth, start = 1, self.i
            while depth:
                depth += {"{": 1, "}": -1}.get(self.toks[self.i], 0)
                self.i += 1
            return " ".join(self.toks[start - 1:self.i])
        raise InvalidRequest(f"the fake cannot read the term {token!r}")

    def relations(self) -> list[tuple[str, str, Any]]:
        found = [self.relation()]
        while self.take("AND"):
            found.append(self.relation())
        return found

    def relation(self) -> tuple[str, str, Any]:
        column = self.name()
        op = self.toks[self.i]
        if op not in ("=", "<", "<=", ">", ">="):
            raise InvalidRequest(f"the fake knows no relation {op!r}")
        self.i += 1
        return column, op, self.term()

    def done(self) -> bool:
        return self.i >= len(self.toks)


_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b, "<": lambda a, b: a < b, "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}


def _split_statements(toks: list[str]) -> list[list[str]]:
    parts: list[list[str]] = [[]]
    for token in toks:
        if token == ";":
            parts.append([])
        else:
            parts[-1].append(token)
    return [p for p in parts if p]


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
        space = self.keyspaces.get(keyspace or self.keyspace or "")
        if space is None or table not in space["tables"]:
            raise InvalidRequest(f"unconfigured table {name}")
        found: Table = space["tables"][table]
        return found

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
            statements = _split_statements(toks[parser.i:-2])
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
        for verb, method in (("SELECT", self._select), ("INSERT", self._insert),
                             ("UPDATE", self._update), ("DELETE", self._delete),
                             ("CREATE", self._create), ("USE", self._use),
                             ("DROP", self._drop)):
            if p.take(verb):
                result = method(p)
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
        if p.take("WITH"):
            p.i = len(p.toks)  # table options: nothing to keep
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
        space["tables"][table] = Table(columns, partition, clustering)
        return []

    # -- reading and writing rows ---------------------------------------------------

    def _where(self, table: Table, relations: list[tuple[str, str, Any]],
               whole_key: bool) -> tuple[tuple[Any, ...], list[tuple[str, str, Any]]]:
        """The partition key named by ``relations`` and the clustering restrictions,
        refusing what Cassandra refuses."""
        given: dict[str, list[tuple[str, Any]]] = {}
        for column, op, value in relations:
            if column not in table.columns:
                raise InvalidRequest(f"Undefined column name {column}")
            if column not in table.key:
                raise InvalidRequest(f"{column} is not a key column: this query would need "
                                     "ALLOW FILTERING")
            self._check(table, column, value)
            given.setdefault(column, []).append((op, value))
        partition = []
        for column in table.partition:
            ops = given.get(column, [])
            if len(ops) != 1 or ops[0][0] != "=":
                raise InvalidRequest(f"the partition key column {column} must be restricted "
                                     "by one equality")
            partition.append(ops[0][1])
        restrictions: list[tuple[str, str, Any]] = []
        ranged = False
        for position, column in enumerate(table.clustering):
            ops = given.get(column, [])
            if not ops:
                if any(c in given for c in table.clustering[position:]):
                    raise InvalidRequest(f"clustering column {column} cannot be skipped")
                break
            if ranged:
                raise InvalidRequest(f"{column} follows a range on an earlier column")
            if any(op != "=" for op, _ in ops):
                ranged = True
            restrictions.extend((column, op, value) for op, value in ops)
        if whole_key and (ranged or any(c not in given for c in table.clustering)):
            raise InvalidRequest("the whole primary key must be given by equalities")
        return tuple(partition), restrictions

    def _check(self, table: Table, column: str, value: Any) -> None:
        kind = table.columns[column]
        if value is not None and not _TYPES[kind](value):
            raise InvalidRequest(f"Invalid value {value!r} for column {column} of type {kind}")

    def _matching(self, table: Table, partition: tuple[Any, ...] | None,
                  restrictions: list[tuple[str, str, Any]],
                  live: bool = True) -> list[tuple[Any, ...]]:
        keys = [k for k in table.rows if (table.live(k) or not live)
                and (partition is None or k[:len(table.partition)] == partition)]
        position = {c: len(table.partition) + i for i, c in enumerate(table.clustering)}
        keys = [k for k in keys if all(_OPS[op](k[position[c]], v) for c, op, v in restrictions)]

        def order(key: tuple[Any, ...]) -> tuple[int, tuple[Any, ...]]:
            # Partitions come in token order, which is not the keys' order.
            return zlib.crc32(repr(key[:len(table.partition)]).encode()), key
        return sorted(keys, key=order)

    def _select(self, p: Parser) -> list[dict[str, Any]]:
        if p.take("count", "(", "*", ")"):
            columns: list[str] | None = None
            counting = True
        elif p.take("*"):
            columns, counting = None, False
        else:
            columns, counting = [p.name()], False
            while p.take(","):
                columns.append(p.name())
        p.expect("FROM")
        table = self.table(p.name())
        partition: tuple[Any, ...] | None = None
        restrictions: list[tuple[str, str, Any]] = []
        if p.take("WHERE"):
            partition, restrictions = self._where(table, p.relations(), False)
        keys = self._matching(table, partition, restrictions)
        if p.take("LIMIT"):
            limit = p.term()
            if not isinstance(limit, int) or limit <= 0:
                raise InvalidRequest("LIMIT must be strictly positive")
            keys = keys[:limit]
        if counting:
            return [{"count": len(keys)}]
        for column in columns or []:
            if column not in table.columns:
                raise InvalidRequest(f"Undefined column name {column}")
        return [{c: table.rows[k].get(c) for c in (columns or list(table.columns))}
                for k in keys]

    def _conditions(self, p: Parser) -> tuple[str, list[tuple[str, str, Any]]] | None:
        if not p.take("IF"):
            return None
        if p.take("NOT", "EXISTS"):
            return "not exists", []
        if p.take("EXISTS"):
            return "exists", []
        return "if", p.relations()

    def _answer(self, table: Table, key: tuple[Any, ...],
                conditions: tuple[str, list[tuple[str, str, Any]]]) -> tuple[bool, dict[str, Any]]:
        """Whether the LWT applies, and its answer if it does not."""
        kind, relations = conditions
        row = table.rows.get(key) if table.live(key) else None
        if kind == "not exists":
            return row is None, {"[applied]": False, **(row or {})}
        if row is None:
            return False, {"[applied]": False}
        if kind == "exists":
            return True, {}
        for column, _, value in relations:
            self._check(table, column, value)
        ok = all(_OPS[op](row.get(c), v) if row.get(c) is not None or op == "="
                 else False for c, op, v in relations)
        return ok, {"[applied]": False, **{c: row.get(c) for c, _, _ in relations}}

    def _insert(self, p: Parser) -> list[dict[str, Any]]:
        p.expect("INTO")
        table = self.table(p.name())
        p.expect("(")
        columns = [p.name()]
        while p.take(","):
            columns.append(p.name())
        p.expect(")", "VALUES", "(")
        values = [p.term()]
        while p.take(","):
            values.append(p.term())
        p.expect(")")
        if len(values) != len(columns):
            raise InvalidRequest("as many values as columns")
        given = dict(zip(columns, values, strict=True))
        for column, value in given.items():
            if column not in table.columns:
                raise InvalidRequest(f"Undefined column name {column}")
            self._check(table, column, value)
        if any(given.get(c) is None for c in table.key):
            raise InvalidRequest("every primary key column needs a value")
        key = tuple(given[c] for c in table.key)
        conditions = self._conditions(p)
        if conditions is not None:
            ok, answer = self._answer(table, key, conditions)
            if not ok:
                return [answer]
        table.rows.setdefault(key, {c: key[i] for i, c in enumerate(table.key)}).update(given)
        table.markers.add(key)
        return [] if conditions is None else [{"[applied]": True}]

    def _update(self, p: Parser) -> list[dict[str, Any]]:
        table = self.table(p.name())
        p.expect("SET")
        sets = {}
        while True:
            column = p.name()
            p.expect("=")
            sets[column] = p.term()
            if not p.take(","):
                break
        p.expect("WHERE")
        partition, restrictions = self._where(table, p.relations(), True)
        for column, value in sets.items():
            if column not in table.columns:
                raise InvalidRequest(f"Undefined column name {column}")
            if column in table.key:
                raise InvalidRequest(f"PRIMARY KEY part {column} found in SET part")
            self._check(table, column, value)
        key = partition + tuple(v for _, _, v in restrictions)
        conditions = self._conditions(p)
        if conditions is not None:
            ok, answer = self._answer(table, key, conditions)
            if not ok:
                return [answer]
        table.rows.setdefault(key, {c: key[i] for i, c in enumerate(table.key)}).update(sets)
        return [] if conditions is None else [{"[applied]": True}]

    def _delete(self, p: Parser) -> list[dict[str, Any]]:
        p.expect("FROM")
        table = self.table(p.name())
        p.expect("WHERE")
        partition, restrictions = self._where(table, p.relations(), False)
        if any(op != "=" for _, op, _ in restrictions):
            raise InvalidRequest("the fake deletes by equalities only")
        conditions = self._conditions(p)
        if conditions is not None:
            if len(restrictions) != len(table.clustering):
                raise InvalidRequest("a conditional DELETE needs the whole primary key")
            key = partition + tuple(v for _, _, v in restrictions)
            ok, answer = self._answer(table, key, conditions)
            if not ok:
                return [answer]
        for key in self._matching(table, partition, restrictions, live=False):
            table.rows.pop(key, None)
            table.markers.discard(key)
        return [] if conditions is None else [{"[applied]": True}]


_END = object()
