"""
The JSON schemas of request bodies (rest-api.md §3), compiled once into validators.

Otter validated with Draft 3; these are Draft 7 schemas whose observable behaviour
matches §2.3: ``integer`` is strict (``true`` and ``1.0`` are not integers), ``number``
excludes booleans, closed objects reject unknown keys. Patterns are matched with
Python's ``re.search``, so they anchor with ``\\A`` and ``\\Z``: ``$`` would let a
trailing newline through.

Five small keywords of our own keep the messages readable where plain JSON Schema
would answer with a dump of the instance: ``exactlyOne`` (a list of property names, one
of which must be present), ``nonZero``, ``forbidden`` (property name to the reason it
may not appear), ``imageSource`` (the image rule of §3.2.2) and ``allowedControls``
(a string refusing every control character but those listed).

Numbers have bounds that no real group needs to exceed, even where Otter had none
(the ``MAX_`` constants, listed in the README): a policy ``change`` of 10**23 is a
mistake, and saying so at once is kinder than clamping it silently at execution.

test-case-name: tests.control.test_schemas, tests.control.test_validation
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import Any

from jsonschema import Draft7Validator, validators
from jsonschema.exceptions import ValidationError

from otter2.control.messages import CONTROL, json_list, json_text

NON_BLANK = r"\S"  # unanchored: somewhere in the string
NO_SPACE = r"\A\S+\Z"
SERVER_METADATA_KEY = r"\A[a-zA-Z0-9_:. -]{1,255}\Z"

# What a string failing each pattern lacks, for error messages.
PATTERN_MEANINGS = {
    NON_BLANK: "must contain a non-whitespace character",
    NO_SPACE: "must be non-empty and contain no whitespace",
    SERVER_METADATA_KEY: "must be 1 to 255 letters, digits, spaces or any of -_:.",
}


def _is_integer(checker: Any, instance: Any) -> bool:
    return isinstance(instance, int) and not isinstance(instance, bool)


def _is_number(checker: Any, instance: Any) -> bool:
    if isinstance(instance, float):
        return math.isfinite(instance)
    return _is_integer(checker, instance)


def _exactly_one(validator: Any, names: list[str], instance: Any,
                 schema: dict[str, Any]) -> Iterator[ValidationError]:
    if not isinstance(instance, dict):
        return
    present = [name for name in names if name in instance]
    if len(present) != 1:
        yield ValidationError(f"exactly one of {json_list(names)} is required "
                              f"(found: {json_list(present) or 'none'})")


def _non_zero(validator: Any, flag: bool, instance: Any,
              schema: dict[str, Any]) -> Iterator[ValidationError]:
    if flag and _is_number(None, instance) and instance == 0:
        yield ValidationError(f"{json_text(instance)} is not allowed: the value must be "
                              "non-zero")


def _forbidden(validator: Any, reasons: dict[str, str], instance: Any,
               schema: dict[str, Any]) -> Iterator[ValidationError]:
    if isinstance(instance, dict):
        for name, reason in reasons.items():
            if name in instance:
                yield ValidationError(reason)


def _image_source(validator: Any, flag: bool, server: Any,
                  schema: dict[str, Any]) -> Iterator[ValidationError]:
    """
    Exactly one of: a usable ``imageRef``; boot from ``block_device_mapping``; boot
    from ``block_device_mapping_v2`` (booting from a volume needs no image).
    """
    if not flag or not isinstance(server, dict):
        return
    image = server.get("imageRef")
    no_image = image is None or (isinstance(image, str) and image == "")
    from_image = isinstance(image, str) and re.search(NO_SPACE, image) is not None
    volumes = [key for key in ("block_device_mapping", "block_device_mapping_v2")
               if key in server]
    sources = int(from_image) + (len(volumes) if no_image else 0)
    if sources == 1:
        return
    if sources > 1:
        yield ValidationError(
            "only one of block_device_mapping and block_device_mapping_v2 may be given")
    elif not no_image:
        yield ValidationError(
            f"imageRef {json_text(image)} must be a string without whitespace")
    else:
        yield ValidationError("imageRef is required unless block_device_mapping or "
                              "block_device_mapping_v2 is given")


_CONTROL_NAMES = {"\t": "tab", "\n": "line feed", "\r": "carriage return"}


def _allowed_controls(validator: Any, allowed: str, instance: Any,
                      schema: dict[str, Any]) -> Iterator[ValidationError]:
    """A string holds no control character (NUL, the other C0 controls, DEL, C1) but
    those in ``allowed``."""
    if not isinstance(instance, str):
        return
    for match in CONTROL.finditer(instance):
        if match.group() not in allowed:
            names = [_CONTROL_NAMES.get(c, f"U+{ord(c):04X}") for c in allowed]
            but = f" other than {', '.join(names[:-1])} and {names[-1]}" if names else ""
            yield ValidationError(
                f"{json_text(instance)} must not contain control characters{but}; "
                f"found U+{ord(match.group()):04X} at position {match.start()}")
            return


_Validator: Any = validators.extend(
    Draft7Validator,
    validators={"exactlyOne": _exactly_one, "nonZero": _non_zero,
                "forbidden": _forbidden, "imageSource": _image_source,
                "allowedControls": _allowed_controls},
    type_checker=Draft7Validator.TYPE_CHECKER.redefine_many(
        {"integer": _is_integer, "number": _is_number}),
)


def _closed(properties: dict[str, Any], required: tuple[str, ...] = (),
            **more: Any) -> dict[str, Any]:
    """An object schema that rejects keys other than ``properties``."""
    return {"type": "object", "properties": properties, "required": list(required),
            "additionalProperties": False, **more}


def _when(key: str, value: str, then: dict[str, Any]) -> dict[str, Any]:
    """Apply ``then`` to objects whose ``key`` is ``value``."""
    return {"if": {"properties": {key: {"const": value}}, "required": [key]},
            "then": then}


# Bounds of numbers that no real group needs to exceed (the README lists them).
MAX_ENTITIES = 1000          # servers in a group
MAX_COOLDOWN = 86400         # seconds: a day
MAX_CHANGE = MAX_ENTITIES    # from no server to the largest group, or back
MAX_CHANGE_PERCENT = 100000  # from 1 server to 1000 is +99900 %
MAX_PORT = 65535
MAX_STACK_TIMEOUT = 10080    # minutes: a week

NAME = {"type": "string", "maxLength": 256, "pattern": NON_BLANK, "allowedControls": ""}

# Keys are names; values may be text of several lines.
METADATA = {
    "type": "object",
    "propertyNames": {"maxLength": 256, "allowedControls": ""},
    "additionalProperties": {"type": "string", "maxLength": 256,
                             "allowedControls": "\t\n\r"},
}

_ENTITIES = {"type": "integer", "minimum": 0, "maximum": MAX_ENTITIES}


def _group_config(update: bool) -> dict[str, Any]:
    required = ("name", "cooldown", "minEntities") + (
        ("maxEntities", "metadata") if update else ())
    return _closed({
        "name": NAME,
        "cooldown": {"type": "integer", "minimum": 0, "maximum": MAX_COOLDOWN},
        "minEntities": _ENTITIES,
        # null passes here and is refused as InvalidMinEntities (§3.1)
        "maxEntities": {**_ENTITIES, "type": ["integer", "null"]},
        "metadata": METADATA,
    }, required)


_VOLUMES = {"type": "array", "items": {"type": "object"}}

SERVER = {
    "type": "object",
    "required": ["flavorRef"],
    "imageSource": True,
    "properties": {
        "flavorRef": {"type": "string", "pattern": NO_SPACE},
        "block_device_mapping": _VOLUMES,
        "block_device_mapping_v2": _VOLUMES,
        "personality": {"type": "array", "items": {
            "type": "object", "required": ["path", "contents"],
            "properties": {"path": {"type": "string", "minLength": 1, "maxLength": 255},
                           "contents": {"type": "string"}}}},
        "metadata": {
            "type": ["object", "null"],
            "propertyNames": {"pattern": SERVER_METADATA_KEY},
            "additionalProperties": {"type": "string", "maxLength": 255},
        },
    },
}

_CLB = _closed({
    "loadBalancerId": {"type": ["integer", "string"], "pattern": NO_SPACE},
    "port": {"type": "integer", "minimum": 1, "maximum": MAX_PORT},
    "type": {"const": "CloudLoadBalancer"},
}, ("loadBalancerId", "port"))

_RCV3 = _closed({
    "loadBalancerId": {"type": "string", "pattern": NO_SPACE},
    "type": {"const": "RackConnectV3"},
}, ("loadBalancerId", "type"))

LOAD_BALANCER = {**_when("type", "RackConnectV3", _RCV3), "else": {
    "if": {"properties": {"type": {"const": "CloudLoadBalancer"}}},  # or no type
    "then": _CLB,
    "else": {"properties": {"type": {"enum": ["CloudLoadBalancer", "RackConnectV3"]}}},
}}

_STRING_OR_OBJECT = {"type": ["string", "object"]}

STACK = _closed({
    "template": _STRING_OR_OBJECT,
    "template_url": {"type": "string"},
    "disable_rollback": {"type": "boolean"},
    "environment": _STRING_OR_OBJECT,
    "files": {"type": "object"},
    "parameters": {"type": "object"},
    "timeout_mins": {"type": "number", "minimum": 0, "maximum": MAX_STACK_TIMEOUT},
}, exactlyOne=["template", "template_url"])

LAUNCH_CONFIG = _closed({
    "type": {"enum": ["launch_server", "launch_stack"]},
    "args": {"type": "object"},
}, ("type", "args"), allOf=[
    _when("type", "launch_server", {"properties": {"args": _closed({
        "server": SERVER,
        "loadBalancers": {"type": "array", "maxItems": 5, "uniqueItems": True,
                          "items": LOAD_BALANCER},
        "draining_timeout": {"type": "number", "minimum": 30, "maximum": 3600},
    }, ("server",))}}),
    # otter2 requires ``stack``, which Otter forgot to (§3.2.6)
    _when("type", "launch_stack", {"properties": {"args": _closed(
        {"stack": STACK}, ("stack",))}}),
])

# ``check`` and ``alarm_criteria`` pass the schema so that the policy checks can
# refuse them with the fixed message of §3.3.6; exactly one of ``at`` and ``cron`` is
# also checked there, after that message.
_SCHEDULE_ARGS = _closed({
    "at": {"type": "string"},
    "cron": {"type": "string"},
    "timezone": {"type": "string"},  # otter2's: an IANA zone for the cron
    "check": {},
    "alarm_criteria": {},
})

POLICY = _closed({
    "name": NAME,
    "type": {"enum": ["webhook", "schedule", "cloud_monitoring"]},
    "cooldown": {"type": "number", "minimum": 0, "maximum": MAX_COOLDOWN},
    "change": {"type": "integer", "nonZero": True,
               "minimum": -MAX_CHANGE, "maximum": MAX_CHANGE},
    "changePercent": {"type": "number", "nonZero": True,
                      "minimum": -MAX_CHANGE_PERCENT, "maximum": MAX_CHANGE_PERCENT},
    "desiredCapacity": {"type": "integer", "minimum": 0, "maximum": MAX_ENTITIES},
    "args": {"type": "object"},
}, ("name", "type", "cooldown"),
    exactlyOne=["change", "changePercent", "desiredCapacity"],
    allOf=[
        _when("type", "webhook", {"forbidden": {"args": "webhook policies take no args"}}),
        _when("type", "schedule", {"required": ["args"],
                                   "properties": {"args": _SCHEDULE_ARGS}}),
    ])

GROUP = _closed({
    "groupConfiguration": _group_config(update=False),
    "launchConfiguration": LAUNCH_CONFIG,
    "scalingPolicies": {"type": "array", "items": POLICY},
}, ("groupConfiguration", "launchConfiguration"))

WEBHOOK = _closed({"name": NAME, "metadata": METADATA}, ("name",))


def _compile(schema: dict[str, Any]) -> Any:
    _Validator.check_schema(schema)
    return _Validator(schema)


def _items(schema: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": schema}


GROUP_VALIDATOR = _compile(GROUP)
GROUP_CONFIG_VALIDATOR = _compile(_group_config(update=True))
LAUNCH_CONFIG_VALIDATOR = _compile(LAUNCH_CONFIG)
POLICY_VALIDATOR = _compile(POLICY)
POLICIES_VALIDATOR = _compile(_items(POLICY))
WEBHOOKS_VALIDATOR = _compile(_items(WEBHOOK))
WEBHOOK_UPDATE_VALIDATOR = _compile({**WEBHOOK, "required": ["name", "metadata"]})
