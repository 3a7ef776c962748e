"""
The statements on rows the fake driver session (`tests.store.cql_fake`) runs:
SELECT, INSERT, UPDATE and DELETE, with their conditions, refusing what
Cassandra refuses (see that module's docstring).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from functools import cmp_to_key
from typing import Any

from cassandra import InvalidRequest

from tests.store.cql_grammar import OPS, TYPES, Parser, Table


def _where(table: Table, relations: list[tuple[str, str, Any]],
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
        _check(table, column, value)
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

def _check(table: Table, column: str, value: Any) -> None:
    kind = table.columns[column]
    if value is not None and not TYPES[kind](value):
        raise InvalidRequest(f"Invalid value {value!r} for column {column} of type {kind}")

def _matching(table: Table, partition: tuple[Any, ...] | None,
              restrictions: list[tuple[str, str, Any]],
              live: bool = True) -> list[tuple[Any, ...]]:
    keys = [k for k in table.rows if (table.live(k) or not live)
            and (partition is None or k[:len(table.partition)] == partition)]
    position = {c: len(table.partition) + i for i, c in enumerate(table.clustering)}
    keys = [k for k in keys if all(OPS[op](k[position[c]], v) for c, op, v in restrictions)]

    def compare(a: tuple[Any, ...], b: tuple[Any, ...]) -> int:
        # Partitions come in token order, which is not the keys' order; rows
        # of one partition in the clustering order the table declares.
        tokens = [zlib.crc32(repr(k[:len(table.partition)]).encode()) for k in (a, b)]
        if tokens[0] != tokens[1] or a[:len(table.partition)] != b[:len(table.partition)]:
            return -1 if (tokens[0], a) < (tokens[1], b) else 1
        for column, i in position.items():
            if a[i] != b[i]:
                less = a[i] < b[i]
                return (1 if less else -1) if column in table.descending else \
                    (-1 if less else 1)
        return 0
    return sorted(keys, key=cmp_to_key(compare))

def select(table_of: Callable[[str], Table], p: Parser) -> list[dict[str, Any]]:
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
    table = table_of(p.name())
    partition: tuple[Any, ...] | None = None
    restrictions: list[tuple[str, str, Any]] = []
    if p.take("WHERE"):
        partition, restrictions = _where(table, p.relations(), False)
    keys = _matching(table, partition, restrictions)
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

def _conditions(p: Parser) -> tuple[str, list[tuple[str, str, Any]]] | None:
    if not p.take("IF"):
        return None
    if p.take("NOT", "EXISTS"):
        return "not exists", []
    if p.take("EXISTS"):
        return "exists", []
    return "if", p.relations()

def _answer(table: Table, key: tuple[Any, ...],
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
        _check(table, column, value)
    ok = all(OPS[op](row.get(c), v) if row.get(c) is not None or op == "="
             else False for c, op, v in relations)
    return ok, {"[applied]": False, **{c: row.get(c) for c, _, _ in relations}}

def insert(table_of: Callable[[str], Table], p: Parser) -> list[dict[str, Any]]:
    p.expect("INTO")
    table = table_of(p.name())
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
        _check(table, column, value)
    if any(given.get(c) is None for c in table.key):
        raise InvalidRequest("every primary key column needs a value")
    key = tuple(given[c] for c in table.key)
    conditions = _conditions(p)
    if conditions is not None:
        ok, answer = _answer(table, key, conditions)
        if not ok:
            return [answer]
    table.rows.setdefault(key, {c: key[i] for i, c in enumerate(table.key)}).update(given)
    table.markers.add(key)
    return [] if conditions is None else [{"[applied]": True}]

def update(table_of: Callable[[str], Table], p: Parser) -> list[dict[str, Any]]:
    table = table_of(p.name())
    p.expect("SET")
    sets = {}
    while True:
        column = p.name()
        p.expect("=")
        sets[column] = p.term()
        if not p.take(","):
            break
    p.expect("WHERE")
    partition, restrictions = _where(table, p.relations(), True)
    for column, value in sets.items():
        if column not in table.columns:
            raise InvalidRequest(f"Undefined column name {column}")
        if column in table.key:
            raise InvalidRequest(f"PRIMARY KEY part {column} found in SET part")
        _check(table, column, value)
    key = partition + tuple(v for _, _, v in restrictions)
    conditions = _conditions(p)
    if conditions is not None:
        ok, answer = _answer(table, key, conditions)
        if not ok:
            return [answer]
    table.rows.setdefault(key, {c: key[i] for i, c in enumerate(table.key)}).update(sets)
    return [] if conditions is None else [{"[applied]": True}]

def delete(table_of: Callable[[str], Table], p: Parser) -> list[dict[str, Any]]:
    p.expect("FROM")
    table = table_of(p.name())
    p.expect("WHERE")
    partition, restrictions = _where(table, p.relations(), False)
    if any(op != "=" for _, op, _ in restrictions):
        raise InvalidRequest("the fake deletes by equalities only")
    conditions = _conditions(p)
    if conditions is not None:
        if len(restrictions) != len(table.clustering):
            raise InvalidRequest("a conditional DELETE needs the whole primary key")
        key = partition + tuple(v for _, _, v in restrictions)
        ok, answer = _answer(table, key, conditions)
        if not ok:
            return [answer]
    for key in _matching(table, partition, restrictions, live=False):
        table.rows.pop(key, None)
        table.markers.discard(key)
    return [] if conditions is None else [{"[applied]": True}]
