"""
Reading one key of a configuration document: its type and value checked, a
one-line `ConfigError` naming it otherwise, and the keys a document leaves
out told apart so that each default stays in its dataclass.

test-case-name: tests.test_config
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from enum import Enum, auto
from typing import Any

from otter2.config.values import ConfigError


class Absent(Enum):
    """A key the document leaves out: its value is the dataclass default."""

    ABSENT = auto()


ABSENT = Absent.ABSENT


def read(section: Mapping[str, Any], key: str, path: str, kind: type | tuple[type, ...],
         check: Any = None, expect: str = "", default: Any = ABSENT) -> Any:
    """The value of ``key`` if it is of ``kind`` and passes ``check``, ``default`` if
    the key is absent; `ConfigError` otherwise."""
    if key not in section:
        return default
    value = section[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    ok = isinstance(value, kinds) and (bool in kinds or not isinstance(value, bool))
    if ok and check is not None:
        ok = check(value)
    if not ok:
        raise ConfigError(f"{path}{key} must be {expect} (got {json.dumps(value)})")
    return value


def given(**values: Any) -> dict[str, Any]:
    """The keyword arguments whose keys the document gave: the dataclass supplies the
    default of every other field, so each default is written once, in the class."""
    return {name: value for name, value in values.items() if value is not ABSENT}


def section_of(document: Mapping[str, Any], key: str, known: set[str],
               path: str = "") -> Mapping[str, Any]:
    """The object under ``key`` (empty if absent); `ConfigError` for a key not in ``known``."""
    section = document.get(key, {})
    if not isinstance(section, dict):
        raise ConfigError(f"{path}{key} must be an object (got {json.dumps(section)})")
    for name in section:
        if name not in known:
            raise ConfigError(f"unknown configuration key {path}{key}.{name}")
    return section


def positive(value: float) -> bool:
    """Whether a number is above zero (a check for `read`)."""
    return value > 0


def natural(value: float) -> bool:
    """Whether a number is zero or more (a check for `read`)."""
    return value >= 0
