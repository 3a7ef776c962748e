"""
The part of CQL the fake driver session (`tests.store.cql_fake`) reads:
tokens, a parser of one statement's terms and relations (a bound value for
each ``%s``), the comparisons and column types it knows, and a table's
schema with its rows.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from attrs import define, field
from cassandra import InvalidRequest

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


@define
class Table:
    """A table's schema and rows: primary key -> column -> value."""

    columns: dict[str, str]
    partition: list[str]
    clustering: list[str]
    descending: set[str] = field(factory=set)  # clustering columns ordered DESC
    rows: dict[tuple[Any, ...], dict[str, Any]] = field(factory=dict)
    markers: set[tuple[Any, ...]] = field(factory=set)

    @property
    def key(self) -> list[str]:
        return self.partition + self.clustering

    def live(self, key: tuple[Any, ...]) -> bool:
        row = self.rows.get(key)
        return row is not None and (key in self.markers or any(
            v is not None for c, v in row.items() if c not in self.key))


TYPES: dict[str, Callable[[Any], bool]] = {
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


OPS: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b, "<": lambda a, b: a < b, "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}


def split_statements(toks: list[str]) -> list[list[str]]:
    parts: list[list[str]] = [[]]
    for token in toks:
        if token == ";":
            parts.append([])
        else:
            parts[-1].append(token)
    return [p for p in parts if p]
