"""
Request bodies checked and normalised before anything is stored (rest-api.md §2.2,
§3, §4): JSON parsing, the schemas of ``otter2.control.schemas``, then the checks the
schemas cannot express, in Otter's order.

Every function is pure (``now`` is passed in) and raises nothing but ``APIError``,
whatever JSON value it is given. The values returned are new containers wherever
normalisation changed something; untouched parts are shared with the request.

test-case-name: tests.control.test_validation
"""

from __future__ import annotations

import json
from typing import Any

from jsonschema.exceptions import best_match

from otter2.control import schemas
from otter2.control.errors import APIError, invalid_json, validation_error
from otter2.control.messages import describe, json_text, located
from otter2.control.schedule import check_schedule_args

DEFAULT_MAX_ENTITIES = schemas.MAX_ENTITIES

SERVICENET_NETWORK = {"uuid": "11111111-1111-1111-1111-111111111111"}

SERVICENET_MESSAGE = ("ServiceNet network must be present if one or more Cloud Load "
                      "Balancers are configured.")


class _NotJSON(ValueError):
    """A constant Python's parser knows and JSON does not."""


def _refuse_constant(name: str) -> Any:
    raise _NotJSON(f"{name} is not a JSON value (JSON has no NaN or Infinity)")


def parse_json(raw: bytes) -> Any:
    """The JSON value in ``raw``; ``InvalidJsonError`` saying why if it is empty, not
    UTF-8, or not strict JSON (``NaN`` and ``Infinity`` are Python's, not JSON's)."""
    if not raw.strip():
        raise invalid_json("it is empty, and this request needs a JSON document")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise invalid_json(f"it is not UTF-8 text (byte {e.start} cannot be decoded)") from None
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as e:
        raise invalid_json(f"{e.msg} at line {e.lineno}, column {e.colno}") from None
    except _NotJSON as e:
        raise invalid_json(str(e)) from None
    except ValueError:  # the only other: an integer of thousands of digits
        raise invalid_json("a number in it has too many digits") from None
    except RecursionError:
        raise invalid_json("it is nested too deeply") from None


def _check_schema(validator: Any, body: Any) -> None:
    """Raise a ``ValidationError`` describing the most relevant schema failure."""
    try:
        error = best_match(validator.iter_errors(body))
    except RecursionError:
        raise validation_error("The body is nested too deeply") from None
    if error is not None:
        raise validation_error(describe(error, schemas.PATTERN_MEANINGS))


def _check_entities(config: dict[str, Any]) -> None:
    """``minEntities <= maxEntities``, refusing an explicit null maximum (§3.1)."""
    minimum, maximum = config["minEntities"], config["maxEntities"]
    if maximum is None or minimum > maximum:
        raise APIError(400, "InvalidMinEntities",
                       "minEntities must be less than or equal to maxEntities (they are "
                       f"{json_text(minimum)} and {json_text(maximum)})")


def _uses_clb(load_balancers: list[dict[str, Any]]) -> bool:
    return any(entry.get("type", "CloudLoadBalancer") == "CloudLoadBalancer"
               for entry in load_balancers)


def _check_servicenet(launch: dict[str, Any], where: str) -> None:
    """
    The ServiceNet rule of §3.2.4: CLBs need ServiceNet among the server's networks,
    when networks are given. A ``networks`` value that is not a list has no
    ServiceNet in it. ``where`` is the launch configuration's path in the body.
    """
    args = launch["args"]
    server = args.get("server", {})
    if "networks" not in server or not _uses_clb(args.get("loadBalancers", [])):
        return
    networks = server["networks"]
    if not (isinstance(networks, list) and SERVICENET_NETWORK in networks):
        path = f"{where}.args.server.networks" if where else "args.server.networks"
        raise validation_error(located(path, SERVICENET_MESSAGE))


def _normalize_launch(launch: dict[str, Any]) -> dict[str, Any]:
    """``launch`` without a null server metadata (``normalize_launch_config``)."""
    server = launch["args"].get("server")
    if launch["type"] != "launch_server" or server.get("metadata", {}) is not None:
        return dict(launch)
    server = {key: value for key, value in server.items() if key != "metadata"}
    return {**launch, "args": {**launch["args"], "server": server}}


def _check_policy(policy: dict[str, Any], now: float, where: str = "") -> None:
    """The checks of §3.3.6 and §3.3.3 that follow the schema, for the policy at
    ``where`` in the body (``scalingPolicies[2]``, ``[0]``, or the whole body)."""
    if policy["type"] == "cloud_monitoring":
        raise validation_error(located(f"{where}.type" if where else "type",
                                  "cloud_monitoring policy disabled"))
    if policy["type"] == "schedule":
        check_schedule_args(policy["args"], now, f"{where}.args" if where else "args")


def _check_batch(body: Any, max_items: int, noun: str) -> None:
    """Arrays of policies or webhooks hold 1 to ``max_items`` items."""
    if not isinstance(body, list) or not 1 <= len(body) <= max_items:
        raise validation_error(
            f"The body must be a JSON array of 1 to {max_items} {noun}")


def validate_group_create(body: Any, now: float, max_items: int = 100) -> dict[str, Any]:
    """
    The body of ``POST /groups`` with defaults filled in: ``maxEntities`` 1000,
    ``metadata`` and ``scalingPolicies`` empty, and a null server metadata removed.

    Checked in §4.2's order: the schema, the entity bounds, the ServiceNet rule; then
    the policies get the checks that ``POST …/policies`` gives them, which Otter
    skipped here (§3.3.6).
    """
    sent = body.get("scalingPolicies") if isinstance(body, dict) else None
    if isinstance(sent, list) and len(sent) > max_items:  # before validating them all
        raise validation_error(
            f"scalingPolicies: at most {max_items} policies may be given, not {len(sent)}")
    _check_schema(schemas.GROUP_VALIDATOR, body)
    config = {"maxEntities": DEFAULT_MAX_ENTITIES, "metadata": {},
              **body["groupConfiguration"]}
    _check_entities(config)
    launch = _normalize_launch(body["launchConfiguration"])
    if launch["type"] == "launch_server":
        _check_servicenet(launch, "launchConfiguration")
    policies = list(body.get("scalingPolicies", []))
    for index, policy in enumerate(policies):
        _check_policy(policy, now, f"scalingPolicies[{index}]")
    return {"groupConfiguration": config, "launchConfiguration": launch,
            "scalingPolicies": policies}


def validate_group_config(body: Any) -> dict[str, Any]:
    """The body of ``PUT …/config``: a whole group configuration."""
    _check_schema(schemas.GROUP_CONFIG_VALIDATOR, body)
    _check_entities(body)
    return dict(body)


def validate_launch_config(body: Any) -> dict[str, Any]:
    """The body of ``PUT …/launch``, without a null server metadata."""
    _check_schema(schemas.LAUNCH_CONFIG_VALIDATOR, body)
    launch = _normalize_launch(body)
    _check_servicenet(launch, "")  # nothing to check for launch_stack
    return launch


def validate_policies(body: Any, now: float, max_items: int = 100) -> list[dict[str, Any]]:
    """The body of ``POST …/policies``: an array of 1 to ``max_items`` policies."""
    _check_batch(body, max_items, "policies")
    _check_schema(schemas.POLICIES_VALIDATOR, body)
    for index, policy in enumerate(body):
        _check_policy(policy, now, f"[{index}]")
    return [dict(policy) for policy in body]


def validate_policy(body: Any, now: float) -> dict[str, Any]:
    """
    The body of ``PUT …/policies/{policyId}``: one whole policy. Whether its type
    matches the stored policy's is the caller's question (§4.13).
    """
    _check_schema(schemas.POLICY_VALIDATOR, body)
    _check_policy(body, now)
    return dict(body)


def validate_webhooks(body: Any, max_items: int = 100) -> list[dict[str, Any]]:
    """The body of ``POST …/webhooks``: 1 to ``max_items`` webhooks, metadata defaulting
    to ``{}``."""
    _check_batch(body, max_items, "webhooks")
    _check_schema(schemas.WEBHOOKS_VALIDATOR, body)
    return [{"metadata": {}, **webhook} for webhook in body]


def validate_webhook_update(body: Any) -> dict[str, Any]:
    """The body of ``PUT …/webhooks/{webhookId}``: both ``name`` and ``metadata``."""
    _check_schema(schemas.WEBHOOK_UPDATE_VALIDATOR, body)
    return dict(body)
