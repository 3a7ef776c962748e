"""
Messages of failed request checks in JSON terms: where the failure is
(``scalingPolicies[0].change``), the value as JSON spells it (``true``, ``null``,
``"web"``, never Python's ``True``, ``None`` or ``'web'``), and what would be
accepted instead.

test-case-name: tests.control.test_messages
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from typing import Any

from jsonschema.exceptions import ValidationError

# A quoted value longer than this is cut short: the client sent it and knows it.
MAX_VALUE_LENGTH = 60

MAX_MESSAGE_LENGTH = 500

# C0 controls, DEL and C1 controls: Unicode's category Cc.
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")

_KEY = re.compile(r"\A[A-Za-z_][A-Za-z0-9_]*\Z")

_TYPE_NAMES = {"integer": "an integer", "number": "a number", "string": "a string",
               "object": "an object", "array": "an array", "boolean": "true or false",
               "null": "null"}


def _escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def escape_controls(text: str) -> str:
    """``text`` with each control character written as a ``\\uXXXX`` escape: one line
    that cannot disturb a terminal or a log."""
    return CONTROL.sub(_escape, text)


def json_text(value: Any) -> str:
    """``value`` as JSON spells it, control characters escaped, cut short when long."""
    text = escape_controls(json.dumps(value, ensure_ascii=False))
    if len(text) > MAX_VALUE_LENGTH:
        text = text[:MAX_VALUE_LENGTH - 3] + "..."
    return text


def format_failure(value: Any, format_name: str) -> str:
    """
    Otter's words for a value that is not of a format: ``'{value}' is not a
    '{format}'`` (spec §2.5), the text between single quotes with its control
    characters escaped and cut short when long; a value that is not text is
    spelled as JSON.
    """
    if isinstance(value, str):
        text = escape_controls(value)
        if len(text) > MAX_VALUE_LENGTH:
            text = text[:MAX_VALUE_LENGTH - 3] + "..."
        shown = f"'{text}'"
    else:
        shown = json_text(value)
    return f"{shown} is not a '{format_name}'"


def json_list(values: Iterable[Any]) -> str:
    """``"a", "b", "c"``."""
    return ", ".join(json_text(value) for value in values)


def where(path: Iterable[str | int]) -> str:
    """``groupConfiguration.cooldown``, ``scalingPolicies[0].change`` or
    ``metadata["a key"]``: a key that is not a plain name is quoted as JSON."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _KEY.match(part):
            text += f".{part}" if text else part
        else:
            text += f"[{json_text(part)}]"
    return text


def located(path: str, message: str) -> str:
    """``message`` prefixed with the place it is about, if any; cut to a readable length."""
    text = f"{path}: {message}" if path else message
    if len(text) > MAX_MESSAGE_LENGTH:
        text = text[:MAX_MESSAGE_LENGTH - 3] + "..."
    return text


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def _type(error: ValidationError) -> str:
    types = error.validator_value
    names = [_TYPE_NAMES.get(name, name) for name in
             ([types] if isinstance(types, str) else types)]
    return f"{json_text(error.instance)} is not {' or '.join(names)}"


def _required(error: ValidationError) -> str:
    missing = [name for name in error.validator_value if name not in error.instance]
    noun = "property" if len(missing) == 1 else "properties"
    return f"missing required {noun} {json_list(missing)}"


def _additional(error: ValidationError) -> str:
    allowed = list(error.schema.get("properties", {}))
    unexpected = [key for key in error.instance if key not in allowed]
    noun = "property" if len(unexpected) == 1 else "properties"
    return (f"unexpected {noun} {json_list(unexpected)}; "
            f"allowed: {json_list(allowed) or 'none'}")


def _max_length(error: ValidationError) -> str:
    return (f"{json_text(error.instance)} has {len(error.instance)} characters; "
            f"at most {error.validator_value} are allowed")


def _min_length(error: ValidationError) -> str:
    return (f"{json_text(error.instance)} has {_count(len(error.instance), 'character')}; "
            f"at least {error.validator_value} needed")


def _maximum(error: ValidationError) -> str:
    return (f"{json_text(error.instance)} is greater than the maximum of "
            f"{json_text(error.validator_value)}")


def _minimum(error: ValidationError) -> str:
    return (f"{json_text(error.instance)} is less than the minimum of "
            f"{json_text(error.validator_value)}")


def _enum(error: ValidationError) -> str:
    return f"{json_text(error.instance)} is not one of {json_list(error.validator_value)}"


def _const(error: ValidationError) -> str:
    return f"{json_text(error.instance)} is not {json_text(error.validator_value)}"


def _max_items(error: ValidationError) -> str:
    return (f"has {_count(len(error.instance), 'item')}; "
            f"at most {error.validator_value} are allowed")


def _min_items(error: ValidationError) -> str:
    return (f"has {_count(len(error.instance), 'item')}; "
            f"at least {error.validator_value} needed")


def _unique(error: ValidationError) -> str:
    return "holds the same item more than once; every item must be different"


# What each keyword of the schemas says when a value fails it. The keywords of our
# own (``otter2.control.schemas``) word their messages themselves.
_MESSAGES: dict[str, Callable[[ValidationError], str]] = {
    "type": _type,
    "required": _required,
    "additionalProperties": _additional,
    "maxLength": _max_length,
    "minLength": _min_length,
    "maximum": _maximum,
    "minimum": _minimum,
    "enum": _enum,
    "const": _const,
    "maxItems": _max_items,
    "minItems": _min_items,
    "uniqueItems": _unique,
}


def describe(error: ValidationError, meanings: dict[str, str]) -> str:
    """
    The message of a schema failure: its place, then what is wrong in JSON terms.
    ``meanings`` says what each pattern demands, so that a message never quotes a
    regular expression.
    """
    if error.validator == "pattern" and error.validator_value in meanings:
        message = f"{json_text(error.instance)} {meanings[error.validator_value]}"
    elif error.validator in _MESSAGES:
        message = _MESSAGES[str(error.validator)](error)
    else:
        message = str(error.message)
    if "propertyNames" in error.absolute_schema_path:
        message = f"key {message}"
    return located(where(error.absolute_path), message)
