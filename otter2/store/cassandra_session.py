"""
The Cassandra store's connection: statements as values, the driver's
futures bridged to Deferreds, and the connection opened with a one-line
reason when it cannot be.

The driver runs its own event loop (libev, its default connection class;
its Twisted connection class is deprecated) on its own thread. A statement
is sent with ``execute_async``; the driver calls back on its thread, and the
result is handed to the reactor with ``callFromThread``, so the reactor never
waits on the network. A result of several pages is gathered page by page on
the driver's thread before it is delivered.

Consistency levels are chosen per statement (see Note [Cassandra
consistency] in ``otter2.store.cassandra``): every statement says its level,
and a lightweight transaction (``IF ...``) also its serial level.

test-case-name: tests.store.test_cassandra
"""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine, Sequence
from functools import wraps
from typing import Any, ParamSpec, Protocol, TypeVar

from attrs import frozen
from cassandra import ConsistencyLevel, UnresolvableContactPoints
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, NoHostAvailable
from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy
from cassandra.query import SimpleStatement, dict_factory
from twisted.internet.defer import Deferred, FirstError, gatherResults
from twisted.python.failure import Failure

from otter2.store.interface import StoreUnavailable

#: The consistency of ordinary reads and writes, and the serial consistency
#: of lightweight transactions (see Note [Cassandra consistency]).
QUORUM = ConsistencyLevel.QUORUM
ONE = ConsistencyLevel.ONE
SERIAL = ConsistencyLevel.SERIAL

Row = dict[str, Any]
P = ParamSpec("P")
T = TypeVar("T")


@frozen
class Statement:
    """
    One CQL statement and its parameters (``%s`` placeholders, as the
    driver's simple statements take them), with the consistency it runs at;
    ``lwt`` for a lightweight transaction, run with serial consistency.
    """

    cql: str
    params: tuple[Any, ...] = ()
    consistency: int = QUORUM
    lwt: bool = False


def batch(statements: Sequence[Statement]) -> Statement:
    """
    One logged batch of ``statements`` (none of them conditional), at
    QUORUM: Cassandra applies all of them or, if the coordinator dies, replays
    the batch log until all are applied.
    """
    if any(s.lwt for s in statements):
        raise ValueError("a batch of otter2's holds no lightweight transaction")
    text = "BEGIN BATCH " + " ".join(s.cql + ";" for s in statements) + " APPLY BATCH"
    return Statement(text, tuple(p for s in statements for p in s.params))


def applied(rows: Sequence[Row]) -> bool:
    """Whether a lightweight transaction's answer says it was applied."""
    return bool(rows and rows[0].get("[applied]"))


def found(answer: Sequence[Row], column: str) -> bool:
    """Whether a refused lightweight transaction found the row: its answer then holds
    the compared ``column`` (never null in otter2's rows); for an absent row it holds
    only ``[applied]``."""
    return bool(answer) and answer[0].get(column) is not None


async def gather(waiting: Sequence[Deferred[T]]) -> list[T]:
    """The results of Deferreds running at once; the first failure as itself."""
    try:
        return await gatherResults(list(waiting), consumeErrors=True)
    except FirstError as error:
        error.subFailure.raiseException()
        raise


class DriverSession(Protocol):
    """The part of the driver's ``Session`` the store uses."""

    def execute_async(self, query: Any, parameters: Any = None) -> Any:
        """A ``ResponseFuture`` of the statement's result."""


class CQLConnection:
    """Runs `Statement` values on a driver session; results come back on the reactor."""

    def __init__(self, session: DriverSession,
                 call_from_thread: Callable[..., object]) -> None:
        self.session = session
        self._call_from_thread = call_from_thread

    def execute(self, statement: Statement) -> Deferred[list[Row]]:
        """The rows ``statement`` reads (every page), or the LWT's answer; a
        driver error becomes `StoreUnavailable` with the driver's reason."""
        done: Deferred[list[Row]] = Deferred()
        query = SimpleStatement(
            statement.cql, consistency_level=statement.consistency,
            serial_consistency_level=SERIAL if statement.lwt else None)
        rows: list[Row] = []

        def failed(error: BaseException) -> None:
            self._call_from_thread(done.errback, Failure(_unavailable(statement, error)))

        try:
            future = self.session.execute_async(query, statement.params)
        except Exception as error:
            failed(error)
            return done

        def page(result: Sequence[Row]) -> None:  # on the driver's thread
            try:
                rows.extend(result)
                if future.has_more_pages:
                    future.start_fetching_next_page()
                    return
            except Exception as error:
                failed(error)
                return
            self._call_from_thread(done.callback, rows)

        future.add_callbacks(page, failed)
        return done


def _unavailable(statement: Statement, error: BaseException) -> StoreUnavailable:
    """A one-line `StoreUnavailable` for a driver error, naming the statement's
    verb and table."""
    tables = re.findall(r"(?:FROM|INTO|UPDATE)\s+(\w+)", statement.cql)
    where = f" ({statement.cql.split()[0]} {tables[0]})" if tables else ""
    reason = " ".join(f"{type(error).__name__}: {error}".split())
    return StoreUnavailable(f"Cassandra failed a statement{where}: {reason}")


#: Seconds to connect to a node, and for a statement's answer.
CONNECT_TIMEOUT = 5.0
REQUEST_TIMEOUT = 10.0


def connect(hosts: Sequence[str], port: int, keyspace: str | None) -> tuple[Any, Any]:
    """
    A driver ``Cluster`` and its ``Session`` on ``keyspace`` (on none if
    None), rows read as dicts (blocking: called as the daemon starts).
    `StoreUnavailable` in one line if no node answers, or the keyspace or its
    schema is missing; the cluster is shut down then.
    """
    where = f"Cassandra at {', '.join(hosts)} port {port}"
    profile = ExecutionProfile(
        load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy()),
        row_factory=dict_factory, request_timeout=REQUEST_TIMEOUT)
    try:
        cluster = Cluster(list(hosts), port=port, connect_timeout=CONNECT_TIMEOUT,
                          execution_profiles={EXEC_PROFILE_DEFAULT: profile})
    except UnresolvableContactPoints:
        raise StoreUnavailable(f"cannot reach {where}: no such host") from None
    try:
        session = cluster.connect()
        if keyspace is None:
            return cluster, session
        tables = {row["table_name"] for row in session.execute(
            "SELECT table_name FROM system_schema.tables WHERE keyspace_name = %s",
            (keyspace,))}
        if "schema_migration" not in tables:
            raise StoreUnavailable(
                f"{where} has no otter2 schema in the keyspace {keyspace}: apply it with "
                f"scripts/otter2-cql-schema --keyspace {keyspace}")
        session.set_keyspace(keyspace)
    except NoHostAvailable as error:
        cluster.shutdown()
        reasons = "; ".join(sorted({_reason(e) for e in error.errors.values()}))
        raise StoreUnavailable(f"cannot reach {where}: {reasons or error}") from None
    except StoreUnavailable:
        cluster.shutdown()
        raise
    except Exception as error:
        cluster.shutdown()
        raise StoreUnavailable(f"cannot use {where}: " +
                               " ".join(f"{type(error).__name__}: {error}".split())) from None
    return cluster, session


def _reason(error: BaseException) -> str:
    """The operator's words for why one host could not be reached."""
    if isinstance(error, OSError) and error.strerror:
        return error.strerror.split("Last error: ")[-1].lower()
    return " ".join(str(error).split())


def deferred(method: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, Deferred[T]]:
    """``method``, a coroutine function, as a function returning a Deferred (the
    store's contract)."""
    @wraps(method)
    def started(*args: P.args, **kwargs: P.kwargs) -> Deferred[T]:
        return Deferred.fromCoroutine(method(*args, **kwargs))
    return started
