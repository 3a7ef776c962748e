"""
Observing the cloud for one group, as Effects (spec §1.5): the group's Nova
servers, the nodes and health monitors of the Cloud Load Balancers it cares
about, and the members of its RackConnect v3 pools.

A group cares about the load balancers of its launch configuration and those
its servers' metadata records; otter2 lists no other LB's nodes, nor those of
one being deleted (it counts as missing: its nodes go with it). While some of
the group's nodes drain, the load balancer's ``stats`` say whether it holds
any connection at all. A failed
gather raises `GatherError` with a readable reason (the iteration reports it
and tries again later); a catalog without Nova or CLB raises `ServiceMissing`,
a group error. A catalog without RackConnect means no pool members. A
listing refused as over the rate limit says how long the cloud asked to wait.

test-case-name: tests.convergence.test_gathering
"""

from __future__ import annotations

from collections.abc import Callable, Container, Generator, Iterable
from enum import Enum, auto
from functools import partial
from typing import Any, NoReturn, TypeVar

from attrs import evolve
from effect import Constant, Effect, FirstError, parallel
from effect.do import do

from otter2.cloud import clb, clb_feed, heat, nova, rcv3
from otter2.cloud.courtesy import asked_wait
from otter2.cloud.messages import (
    CLOUD_LOAD_BALANCERS,
    CLOUD_SERVERS,
    ORCHESTRATION,
    RACKCONNECT,
    describe,
    describe_exception,
)
from otter2.cloud.request import (
    AuthenticationError,
    NoSuchEndpoint,
    Response,
    ServiceRequest,
)
from otter2.model.cloud import (
    CLB,
    CLBDescription,
    CLBNode,
    LBDescription,
    NodeCondition,
    Observation,
    ObservedServer,
    ObservedStack,
    RCv3Description,
    RCv3Node,
)

MAX_FEED_PAGES = 100

T = TypeVar("T")

__all__ = ["GatherError", "IdentityFailure", "Observation", "ServiceMissing", "addresses_of",
           "all_at_once", "as_gather_error", "by_number", "gather_clb", "gather_group",
           "gather_lb", "gather_members", "gather_rcv3", "gather_servers", "gather_stacks",
           "lbs_to_read", "list_clb_ids"]


class GatherError(Exception):
    """
    Observing the cloud failed; ``reason`` says how, for the group's owner;
    ``retry_after`` is the seconds the cloud asked otter2 to wait, if it did
    (see Note [Rate limits are the tenant's] in ``otter2.cloud.courtesy``).
    """

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class ServiceMissing(GatherError):
    """The tenant's catalog lacks a service the group needs (a closed or suspended account)."""


class IdentityFailure(GatherError):
    """Identity would not let otter2 act for the tenant: a group error, retried later."""


def _raise(error: BaseException) -> NoReturn:
    raise error


def as_gather_error(service: str, error: BaseException) -> GatherError:
    """What a failure to observe ``service`` means: a `GatherError` saying so."""
    if isinstance(error, FirstError):
        error = error.exception
    if isinstance(error, GatherError):
        return error
    if isinstance(error, NoSuchEndpoint):
        return ServiceMissing(str(error))
    if isinstance(error, AuthenticationError):
        return IdentityFailure(str(error))
    return GatherError(f"Could not reach {service}: {describe_exception(error)}")


def _call(service: str, request: ServiceRequest) -> Effect:
    return Effect(request).on(error=lambda e: _raise(as_gather_error(service, e)))


def all_at_once(effects: list[Effect]) -> Effect:
    """Effects performed at once (their results in order, none for none); the
    first failure is raised as it is."""
    if not effects:
        return Effect(Constant([]))
    return parallel(effects).on(
        error=lambda e: _raise(e.exception if isinstance(e, FirstError) else e))


def _read(response: Response, parse: Callable[[Any], T], failed: str) -> T:
    """``parse`` of a 200 answer's body; a GatherError saying ``failed`` otherwise."""
    wait = asked_wait(response)
    if wait is not None:
        raise GatherError(describe(f"{failed}: the service is limiting the rate of requests "
                                   f"and asked to wait {wait:g} s", response), wait)
    if response.status != 200:
        raise GatherError(describe(failed, response))
    try:
        return parse(response.body)
    except Exception as error:
        raise GatherError(f"{failed}: the answer was unreadable "
                          f"({describe_exception(error)})") from error


# -- Nova --------------------------------------------------------------------------


@do
def gather_servers(tenant_id: str, group_id: str) -> Generator[Effect, Any, list[ObservedServer]]:
    """
    Effect resulting in the group's servers: every page of ``servers/detail``
    (following ``rel=next`` links; the same link twice in a row fails), kept
    when their metadata makes them members.
    """
    members = yield gather_members(tenant_id, {group_id})
    servers: list[ObservedServer] = members.get(group_id, [])
    return servers


@do
def gather_members(tenant_id: str, group_ids: Iterable[str],
                   ) -> Generator[Effect, Any, dict[str, list[ObservedServer]]]:
    """
    Effect resulting in the servers of each of ``group_ids`` (by id; a group
    without servers is absent), from one listing of the tenant's servers:
    every page of ``servers/detail``, following ``rel=next`` links (the same
    link twice in a row fails).
    """
    wanted = set(group_ids)
    params: tuple[tuple[str, str], ...] = nova.FIRST_PAGE
    previous: str | None = None
    members: dict[str, list[Any]] = {}
    while True:
        response = yield _call(CLOUD_SERVERS, nova.list_servers_request(tenant_id, params))
        servers, next_href = _read(response, nova.parse_server_page,
                                   "Could not list the servers of Cloud Servers")
        for server in servers:
            owner = nova.owner_of(server)
            if owner in wanted:
                members.setdefault(owner, []).append(server)
        if not servers or next_href is None:
            break
        if next_href == previous:
            raise GatherError("Could not list the servers of Cloud Servers: it gave the "
                              f"same next page twice ({next_href})")
        previous, params = next_href, nova.next_page_params(next_href)
    return {group_id: [_parsed(nova.parse_server, server, "Cloud Servers described server")
                       for server in servers]
            for group_id, servers in members.items()}


def _parsed(parse: Callable[[Any], T], item: Any, described: str) -> T:
    """``parse`` of one listed item; a GatherError naming it (``described``
    "Cloud Servers described server") when it is unreadable."""
    try:
        return parse(item)
    except Exception as error:
        raise GatherError(f"{described} {item.get('id')} unreadably "
                          f"({describe_exception(error)})") from error


# -- Cloud Load Balancers --------------------------------------------------------


def by_number(lb_id: str) -> tuple[int, str]:
    """The sort key that orders load balancer ids as numbers (5 before 10)."""
    return (len(lb_id), lb_id)


@do
def gather_clb(tenant_id: str, lb_ids: Iterable[str], addresses: Container[str] | None = None,
               ) -> Generator[Effect, Any, tuple[list[CLBNode], dict[str, CLB]]]:
    """
    Effect resulting in (nodes, {lb_id: CLB}) for those of ``lb_ids`` that
    exist and are not being deleted (one that is counts as missing): their
    nodes, when DRAINING ones began draining (and, when the load balancer
    holds no connection at all, that they have none), and their health
    monitors. An LB found gone meanwhile has no nodes and no `CLB`. Given the
    ``addresses`` of the group's servers, only DRAINING nodes at one of them
    are looked into (the others are not the group's to remove).
    """
    wanted = set(lb_ids)
    if not wanted:
        return [], {}
    present = yield list_clb_ids(tenant_id, wanted)
    results = yield all_at_once([gather_lb(tenant_id, lb_id, addresses) for lb_id in present])
    nodes = [node for lb_nodes, _ in results for node in lb_nodes]
    clbs = {lb_id: found for lb_id, (_, found) in zip(present, results, strict=True) if found is not None}
    return nodes, clbs


def list_clb_ids(tenant_id: str, wanted: set[str]) -> Effect:
    """Effect resulting in those of ``wanted`` that the tenant's CLB listing shows
    and that are not being deleted (one that is counts as missing), in number
    order."""
    def present(response: Response) -> list[str]:
        listed = set(_read(response, clb.parse_live_load_balancer_ids,
                           "Could not list the load balancers of Cloud Load Balancers"))
        return sorted(wanted & listed, key=by_number)
    return _call(CLOUD_LOAD_BALANCERS, clb.list_load_balancers_request(tenant_id)).on(present)


class _Gone(Enum):
    """The load balancer went away while its nodes' events were being read."""

    GONE = auto()


_GONE = _Gone.GONE


def gather_lb(tenant_id: str, lb_id: str, addresses: Container[str] | None = None) -> Effect:
    """Effect resulting in one listed CLB's nodes (with when DRAINING ones at
    ``addresses``, or any when None, began draining, and whether the load
    balancer holds no connection) and its `CLB`, or no nodes and None if it
    went away meanwhile. A load balancer with no such DRAINING node costs its
    two reads and nothing more (every round reads every load balancer of a
    tenant's groups)."""
    return all_at_once([
        _call(CLOUD_LOAD_BALANCERS, clb.list_nodes_request(tenant_id, lb_id)),
        _call(CLOUD_LOAD_BALANCERS, clb.health_monitor_request(tenant_id, lb_id)),
    ]).on(lambda responses: _lb_read(tenant_id, lb_id, addresses, *responses))


def _lb_read(tenant_id: str, lb_id: str, addresses: Container[str] | None,
             nodes_response: Response, monitor_response: Response,
             ) -> tuple[list[CLBNode], CLB | None] | Effect:
    """What ``gather_lb`` results in, from the answers to its reads (or an
    Effect of it, when DRAINING nodes must be looked into)."""
    nodes: list[CLBNode] = [] if clb.lb_gone(nodes_response) else _read(
        nodes_response, partial(clb.parse_nodes, lb_id),
        f"Could not list the nodes of Cloud Load Balancer {lb_id}")
    found: CLB | None = None if clb.lb_gone(monitor_response) else _read(
        monitor_response, clb.parse_health_monitor,
        f"Could not read the health monitor of Cloud Load Balancer {lb_id}")
    draining = [node for node in nodes if node.description.condition is NodeCondition.DRAINING
                and (addresses is None or node.address in addresses)]
    if not draining:
        return nodes, found

    def looked_into(results: list[Any]) -> tuple[list[CLBNode], CLB | None]:
        *drained_at, connections = results
        since: dict[str, float | None] = {}
        for node, when in zip(draining, drained_at, strict=True):
            if when is _GONE:
                return [], None
            since[node.node_id] = when
        # The count is the whole load balancer's: only 0 says something of each node.
        idle = 0 if connections == 0 else None
        return [evolve(node, drained_at=since[node.node_id], connections=idle)
                if node.node_id in since else node for node in nodes], found

    return all_at_once([*(_drained_at(tenant_id, lb_id, node.node_id) for node in draining),
                        _current_connections(tenant_id, lb_id)]).on(looked_into)


def _current_connections(tenant_id: str, lb_id: str) -> Effect:
    """
    Effect resulting in the connections the load balancer holds now, or None
    when that cannot be read (mimic serves no ``stats``): a drain then waits
    its timeout, as it would without this look.
    """
    return Effect(clb.stats_request(tenant_id, lb_id)).on(
        clb.read_current_connections, error=lambda _: None)


@do
def _drained_at(tenant_id: str, lb_id: str, node_id: str,
                ) -> Generator[Effect, Any, float | None | _Gone]:
    """Effect resulting in when the node began draining, None if unknown, or _GONE."""
    params: tuple[tuple[str, str], ...] = ()
    for _ in range(MAX_FEED_PAGES):
        response = yield _call(CLOUD_LOAD_BALANCERS,
                               clb.node_feed_request(tenant_id, lb_id, node_id, params))
        if clb.lb_gone(response):
            return _GONE
        if response.status == 404:  # the node went away meanwhile
            return None
        page = _read(response, lambda body: clb_feed.parse_node_feed(body or ""),
                     f"Could not read the events of node {node_id} "
                     f"of Cloud Load Balancer {lb_id}")
        if page.drained_at is not None or not page.entries or page.next_href is None:
            return page.drained_at
        params = nova.next_page_params(page.next_href)
    return None


# -- RackConnect v3 --------------------------------------------------------------


@do
def gather_rcv3(tenant_id: str, pool_ids: Iterable[str]) -> Generator[Effect, Any, list[RCv3Node]]:
    """
    Effect resulting in the members of those of ``pool_ids`` that exist
    (compared lower-cased); none when the catalog has no RackConnect.
    """
    wanted = {pool_id.lower() for pool_id in pool_ids}
    if not wanted:
        return []
    try:
        response = yield _call(RACKCONNECT, rcv3.list_pools_request(tenant_id))
    except ServiceMissing:
        return []
    listed = _read(response, rcv3.parse_pool_ids,
                   "Could not list the load balancer pools of RackConnect v3")
    present = sorted(pool_id for pool_id in listed if pool_id.lower() in wanted)
    responses = yield all_at_once([_call(RACKCONNECT, rcv3.list_pool_nodes_request(tenant_id, pool_id))
                            for pool_id in present])
    return [node for pool_id, response in zip(present, responses, strict=True)
            if response.status != 404
            for node in _read(response, partial(rcv3.parse_pool_nodes, pool_id),
                              f"Could not list the members of RackConnect v3 pool {pool_id}")]


# -- Heat --------------------------------------------------------------------------


@do
def gather_stacks(tenant_id: str, group_id: str) -> Generator[Effect, Any, list[ObservedStack]]:
    """
    Effect resulting in the group's Heat stacks: every page of the stacks
    tagged with the group (``marker`` paging, stopping at a short page or one
    that brings nothing new), deleted ones left out by Heat.
    """
    tag = heat.group_tag(group_id)
    marker: str | None = None
    seen: set[str] = set()
    listed: list[Any] = []
    while True:
        response = yield _call(ORCHESTRATION, heat.list_stacks_request(tenant_id, tag, marker))
        page = _read(response, heat.parse_stack_page,
                     "Could not list the stacks of Cloud Orchestration")
        fresh = []
        for stack in page:  # a stack listed twice, even on one page, is read once
            stack_id = str(stack.get("id"))
            if stack_id not in seen:
                seen.add(stack_id)
                fresh.append(stack)
        listed.extend(fresh)
        if len(page) < heat.PAGE_SIZE or not fresh:
            break
        marker = str(page[-1].get("id"))
    return [_parsed(heat.parse_stack, stack, "Cloud Orchestration described stack")
            for stack in listed if heat.carries(stack, tag)]


# -- the whole group ---------------------------------------------------------------


def lbs_to_read(lbs: Iterable[LBDescription],
                servers: Iterable[ObservedServer]) -> set[LBDescription]:
    """The load balancers a group's gather reads: ``lbs`` (those of its
    configuration and record) and those its servers' metadata names."""
    return set(lbs).union(*(server.desired_lbs for server in servers))


def addresses_of(servers: Iterable[ObservedServer]) -> set[str]:
    """The ServiceNet addresses of the servers that have one."""
    return {server.servicenet_address for server in servers if server.servicenet_address}


@do
def gather_group(tenant_id: str, group_id: str, desired_lbs: Iterable[LBDescription],
                 ) -> Generator[Effect, Any, Observation]:
    """
    Effect resulting in an `Observation` of the group: its servers first,
    then (at once) the CLBs and RCv3 pools of its launch configuration and of
    its servers' metadata.
    """
    servers = yield gather_servers(tenant_id, group_id)
    lbs = lbs_to_read(desired_lbs, servers)
    clb_ids = {lb.lb_id for lb in lbs if isinstance(lb, CLBDescription)}
    pool_ids = {lb.lb_id for lb in lbs if isinstance(lb, RCv3Description)}
    addresses = addresses_of(servers)
    effects = ([gather_clb(tenant_id, clb_ids, addresses)] if clb_ids else []) + \
        ([gather_rcv3(tenant_id, pool_ids)] if pool_ids else [])
    results = yield (effects[0].on(lambda result: [result]) if len(effects) == 1
                     else all_at_once(effects))
    clb_nodes, clbs = results.pop(0) if clb_ids else ([], {})
    rcv3_nodes = results.pop(0) if pool_ids else []
    return Observation(servers=servers, lb_nodes=clb_nodes + rcv3_nodes, clbs=clbs)
