"""
Cloud Load Balancers: the requests otter2 makes, the listings read into
`CLBNode` and `CLB` values, and the error table of spec §3.4 with what each
error means for each step. Node Atom feeds are read in ``clb_feed``.

test-case-name: tests.cloud.test_clb
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import Enum, auto
from typing import Any

from attrs import frozen
from pyrsistent import thaw

from otter2.cloud.messages import (
    CLOUD_LOAD_BALANCERS,
    describe,
    error_message,
    fault_message,
    path,
    retry_after,
    unrecognised_outcome,
)
from otter2.cloud.request import Response, ServiceRequest, ServiceType
from otter2.model.cloud import CLB, CLBDescription, CLBNode, NodeCondition, NodeType
from otter2.model.outcome import StepOutcome, Verdict

MAX_NODES_PER_DELETE = 10

# -- requests ------------------------------------------------------------------


def _request(tenant_id: str, method: str, relative: str, **kwargs: Any) -> ServiceRequest:
    return ServiceRequest(tenant_id, ServiceType.CLOUD_LOAD_BALANCERS, method, relative,
                          **kwargs)


def list_load_balancers_request(tenant_id: str) -> ServiceRequest:
    """``GET loadbalancers``."""
    return _request(tenant_id, "GET", "loadbalancers")


def get_load_balancer_request(tenant_id: str, lb_id: str) -> ServiceRequest:
    """``GET loadbalancers/{lb}``."""
    return _request(tenant_id, "GET", path("loadbalancers", lb_id))


def list_nodes_request(tenant_id: str, lb_id: str) -> ServiceRequest:
    """``GET loadbalancers/{lb}/nodes``."""
    return _request(tenant_id, "GET", path("loadbalancers", lb_id, "nodes"))


def health_monitor_request(tenant_id: str, lb_id: str) -> ServiceRequest:
    """``GET loadbalancers/{lb}/healthmonitor``."""
    return _request(tenant_id, "GET", path("loadbalancers", lb_id, "healthmonitor"))


def stats_request(tenant_id: str, lb_id: str) -> ServiceRequest:
    """``GET loadbalancers/{lb}/stats``, the load balancer's connection counts."""
    return _request(tenant_id, "GET", path("loadbalancers", lb_id, "stats"))


def node_feed_request(tenant_id: str, lb_id: str, node_id: str,
                      params: tuple[tuple[str, str], ...] = ()) -> ServiceRequest:
    """``GET loadbalancers/{lb}/nodes/{node}.atom``, a page of the node's events."""
    return _request(tenant_id, "GET", path("loadbalancers", lb_id, "nodes", f"{node_id}.atom"),
                    params=params)


def add_nodes_request(tenant_id: str, lb_id: str,
                      address_configs: Iterable[tuple[str, CLBDescription]]) -> ServiceRequest:
    """``POST loadbalancers/{lb}/nodes`` with one node per (address, description)."""
    nodes = [{"address": address, "port": lb.port, "condition": lb.condition.value,
              "weight": lb.weight, "type": lb.type.value}
             for address, lb in sorted(address_configs, key=lambda pair: (pair[0], pair[1].port))]
    return _request(tenant_id, "POST", path("loadbalancers", lb_id, "nodes"),
                    json={"nodes": nodes})


def remove_nodes_request(tenant_id: str, lb_id: str, node_ids: Iterable[str]) -> ServiceRequest:
    """``DELETE loadbalancers/{lb}/nodes?id=..&id=..``."""
    return _request(tenant_id, "DELETE", path("loadbalancers", lb_id, "nodes"),
                    params=tuple(("id", node_id) for node_id in node_ids))


def change_node_request(tenant_id: str, lb_id: str, node_id: str, condition: NodeCondition,
                        weight: int, type: NodeType) -> ServiceRequest:
    """``PUT loadbalancers/{lb}/nodes/{node}`` with its condition, weight and type."""
    return _request(tenant_id, "PUT", path("loadbalancers", lb_id, "nodes", node_id),
                    json={"node": {"condition": condition.value, "weight": weight,
                                   "type": type.value}})


# -- parsing -------------------------------------------------------------------


_LB_ID = re.compile(r"\A[1-9][0-9]*\Z")


def is_load_balancer_id(value: Any) -> bool:
    """
    Whether a launch configuration's ``loadBalancerId`` can name a CLB: a
    positive integer, as a JSON number or as its digits. Leading zeros are
    refused: otter2 matches ids as text against CLB's listings, which say 7,
    never 007.
    """
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value > 0
    return isinstance(value, str) and _LB_ID.match(value) is not None


def parse_load_balancer_ids(body: Any) -> list[str]:
    """The ids of a ``GET loadbalancers`` answer (read as given: nothing else is needed)."""
    return [str(lb["id"]) for lb in body["loadBalancers"]]


def parse_live_load_balancer_ids(body: Any) -> list[str]:
    """
    The ids of a ``GET loadbalancers`` answer but those of load balancers
    being deleted (PENDING_DELETE or DELETED, in CLB's or mimic's spelling):
    such a load balancer will never take a node again, and its nodes go with it.
    """
    return [str(lb["id"]) for lb in body["loadBalancers"] if not is_being_deleted(lb.get("status"))]


def is_being_deleted(status: Any) -> bool:
    """Whether a load balancer's ``status`` says it is being (or has been) deleted."""
    return isinstance(status, str) and status.upper().replace("-", "_") in _BEING_DELETED


def parse_nodes(lb_id: str, body: Any) -> list[CLBNode]:
    """The nodes of a ``GET loadbalancers/{lb}/nodes`` answer, with their
    description; the body is read as given (frozen or not), not thawed: every
    round reads the nodes of every load balancer of a tenant's groups."""
    return [
        CLBNode(
            node_id=str(node["id"]),
            address=node["address"],
            description=CLBDescription(
                lb_id=lb_id, port=int(node["port"]), weight=int(node.get("weight", 1)),
                condition=NodeCondition(node.get("condition", "ENABLED")),
                type=NodeType(node.get("type", "PRIMARY"))),
            is_online=node.get("status") == "ONLINE",
        )
        for node in body.get("nodes", ())
    ]


def read_current_connections(response: Response) -> int | None:
    """
    The connections a load balancer holds now (``currentConn`` of a ``stats``
    answer), or None when the answer does not say (any error, or a body
    without a whole count: not every CLB serves ``stats``).
    """
    if response.status != 200:
        return None
    body = thaw(response.body)
    count = body.get("currentConn") if isinstance(body, dict) else None
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        return None
    return count


def parse_health_monitor(body: Any) -> CLB:
    """A `CLB` from a ``GET loadbalancers/{lb}/healthmonitor`` answer."""
    return CLB(health_monitor=bool(body.get("healthMonitor")))


# -- errors --------------------------------------------------------------------


class CLBErrorKind(Enum):
    """The errors of the CLB table (spec §3.4), and OTHER for the rest."""

    RATE_LIMITED = auto()
    DELETED = auto()
    IMMUTABLE = auto()
    NOT_ACTIVE = auto()
    NO_SUCH_LB = auto()
    DUPLICATE_NODES = auto()
    NODE_LIMIT = auto()
    NO_SUCH_NODE = auto()
    NODES_NOT_IN_LB = auto()
    OTHER = auto()


@frozen
class CLBError:
    """A CLB error answer, recognised: its kind and what the kind carries."""

    kind: CLBErrorKind
    node_limit: int | None = None
    node_ids: tuple[str, ...] = ()


_LB = r"load ?balancer"
_RULES = [
    (422, re.compile(rf"{_LB} '?\w+'? has a status of 'PENDING_DELETE' and is considered "
                     r"immutable", re.I), CLBErrorKind.DELETED),
    (422, re.compile(rf"the {_LB} is deleted and considered immutable", re.I),
     CLBErrorKind.DELETED),
    (410, re.compile(rf"the {_LB} is marked as deleted", re.I), CLBErrorKind.DELETED),
    (422, re.compile(rf"{_LB} '?\w+'? has a status of '[^']*' and is considered immutable",
                     re.I), CLBErrorKind.IMMUTABLE),
    (422, re.compile(rf"{_LB} is not active", re.I), CLBErrorKind.NOT_ACTIVE),
    (404, re.compile(rf"{_LB} not found", re.I), CLBErrorKind.NO_SUCH_LB),
    (None, re.compile(r"duplicate nodes detected", re.I), CLBErrorKind.DUPLICATE_NODES),
    (404, re.compile(rf"node with id #?\d+ not found for {_LB}", re.I),
     CLBErrorKind.NO_SUCH_NODE),
]
_NODE_LIMIT = re.compile(rf"nodes must not exceed (\d+) per {_LB}", re.I)
_NOT_IN_LB = re.compile(rf"node ids ([\d,\s]+) are not a part of your {_LB}", re.I)


def clb_error(response: Response) -> CLBError:
    """
    What a CLB error answer is, by status and message (case-insensitive; the
    first matching row wins). Duplicate nodes are recognised whatever the
    status, since mimic answers them with 413.
    """
    status, body = response.status, thaw(response.body)
    if status == 413 and fault_message(body, "overLimit"):
        return CLBError(CLBErrorKind.RATE_LIMITED)
    message = body.get("message", "") if isinstance(body, dict) else str(body or "")
    message = message if isinstance(message, str) else ""
    for rule_status, pattern, kind in _RULES:
        if rule_status in (None, status) and pattern.search(message):
            return CLBError(kind)
    limit = _NODE_LIMIT.search(message)
    if status == 413 and limit:
        return CLBError(CLBErrorKind.NODE_LIMIT, node_limit=int(limit.group(1)))
    if status == 400:
        not_in_lb = _NOT_IN_LB.search(error_message(body))
        if not_in_lb:
            ids = tuple(i.strip() for i in not_in_lb.group(1).split(",") if i.strip())
            return CLBError(CLBErrorKind.NODES_NOT_IN_LB, node_ids=ids)
    return CLBError(CLBErrorKind.OTHER)


#: The statuses of the rows of the error table that say a load balancer is gone.
_GONE_STATUSES = frozenset(status for status, _, kind in _RULES
                           if kind in (CLBErrorKind.NO_SUCH_LB, CLBErrorKind.DELETED))


def lb_gone(response: Response) -> bool:
    """Whether an answer says the load balancer does not exist or is being deleted
    (any other status, a 200 above all, is read no further)."""
    if response.status not in _GONE_STATUSES:
        return False
    return clb_error(response).kind in (CLBErrorKind.NO_SUCH_LB, CLBErrorKind.DELETED)


class LoadBalancerLookup(Enum):
    """What an answer to ``GET loadbalancers/{lb}`` says of the load balancer."""

    FOUND = auto()
    MISSING = auto()
    DELETING = auto()  # PENDING_DELETE or DELETED: it will never take nodes again
    UNANSWERED = auto()  # CLB could not say: rate-limited, failing, or unreadable


_BEING_DELETED = {"PENDING_DELETE", "DELETED"}  # mimic writes PENDING-DELETE


def read_load_balancer_lookup(response: Response) -> LoadBalancerLookup:
    """
    What a ``GET loadbalancers/{lb}`` answer says: a 200 by the status it
    shows; a 404 or the table's missing row is MISSING, its deleted rows (and
    410) are DELETING; anything else is UNANSWERED.
    """
    if response.status in (200, 203):
        body = thaw(response.body)
        lb = body.get("loadBalancer") if isinstance(body, dict) else None
        status = lb.get("status") if isinstance(lb, dict) else None
        if not isinstance(status, str):
            return LoadBalancerLookup.UNANSWERED
        return (LoadBalancerLookup.DELETING if is_being_deleted(status)
                else LoadBalancerLookup.FOUND)
    kind = clb_error(response).kind
    if kind is CLBErrorKind.DELETED or response.status == 410:
        return LoadBalancerLookup.DELETING
    if kind is CLBErrorKind.NO_SUCH_LB or response.status == 404:
        return LoadBalancerLookup.MISSING
    return LoadBalancerLookup.UNANSWERED


def _busy(lb_id: str, response: Response, kind: CLBErrorKind) -> StepOutcome | None:
    if kind is CLBErrorKind.RATE_LIMITED:
        return StepOutcome(Verdict.RETRY, [describe(
            f"Cloud Load Balancers is limiting the rate of requests for load balancer {lb_id}",
            response)], retry_after=retry_after(response))
    if kind in (CLBErrorKind.IMMUTABLE, CLBErrorKind.NOT_ACTIVE):
        return StepOutcome(Verdict.RETRY, [describe(
            f"Cloud Load Balancer {lb_id} cannot change now", response)], busy=True)
    return None


def no_such_lb_reason(lb_id: str) -> str:
    """The sentence for a load balancer that does not exist."""
    return f"Cloud Load Balancer does not exist: {lb_id}"


def lb_deleted_reason(lb_id: str) -> str:
    """The sentence for a load balancer that is being (or has been) deleted."""
    return f"Cloud Load Balancer is currently being deleted: {lb_id}"


def _missing_lb(lb_id: str, kind: CLBErrorKind) -> StepOutcome | None:
    if kind is CLBErrorKind.NO_SUCH_LB:
        return StepOutcome(Verdict.FAILURE, [no_such_lb_reason(lb_id)])
    if kind is CLBErrorKind.DELETED:
        return StepOutcome(Verdict.FAILURE, [lb_deleted_reason(lb_id)])
    return None


def classify_add_nodes(lb_id: str, response: Response) -> StepOutcome:
    """
    What an answer to adding nodes means: 202 is RETRY (look again); a missing
    LB or its node limit is FAILURE; busy, rate-limited or duplicate is RETRY.
    """
    if response.status == 202:
        return StepOutcome(Verdict.RETRY, [
            f"added nodes to Cloud Load Balancer {lb_id}; looking again"], done=True)
    error = clb_error(response)
    if error.kind is CLBErrorKind.DUPLICATE_NODES:
        return StepOutcome(Verdict.RETRY, [
            f"some of the nodes are already on Cloud Load Balancer {lb_id}; looking again"])
    if error.kind is CLBErrorKind.NODE_LIMIT:
        return StepOutcome(Verdict.FAILURE, [
            f"Cannot create more than {error.node_limit} nodes in Cloud Load Balancer {lb_id}"])
    outcome = _busy(lb_id, response, error.kind) or _missing_lb(lb_id, error.kind)
    return outcome or unrecognised_outcome(
        CLOUD_LOAD_BALANCERS, f"add nodes to load balancer {lb_id}", response)


def classify_remove_nodes(lb_id: str, response: Response) -> StepOutcome:
    """
    What an answer to removing nodes means: 202, a missing or deleted LB and
    a missing node are SUCCESS; busy or rate-limited is RETRY.
    """
    error = clb_error(response) if response.status != 202 else None
    if error is None or error.kind in (CLBErrorKind.NO_SUCH_LB, CLBErrorKind.DELETED,
                                       CLBErrorKind.NO_SUCH_NODE):
        return StepOutcome(Verdict.SUCCESS, done=True)
    return _busy(lb_id, response, error.kind) or unrecognised_outcome(
        CLOUD_LOAD_BALANCERS, f"remove nodes from load balancer {lb_id}", response)


def classify_change_node(lb_id: str, node_id: str, response: Response) -> StepOutcome:
    """
    What an answer to changing a node means: 202 is RETRY (look again); a
    missing LB or node is FAILURE; busy or rate-limited is RETRY.
    """
    if response.status == 202:
        return StepOutcome(Verdict.RETRY, [
            f"changed node {node_id} of Cloud Load Balancer {lb_id}; looking again"], done=True)
    error = clb_error(response)
    if error.kind is CLBErrorKind.NO_SUCH_NODE:
        return StepOutcome(Verdict.FAILURE, [
            f"Node {node_id} of Cloud Load Balancer {lb_id} does not exist"])
    outcome = _busy(lb_id, response, error.kind) or _missing_lb(lb_id, error.kind)
    return outcome or unrecognised_outcome(
        CLOUD_LOAD_BALANCERS, f"change node {node_id} of load balancer {lb_id}", response)
