"""
One observation of a tenant's cloud shared by several of its groups: one
listing of its Nova servers and one read of each load balancer any of the
groups cares about, instead of one of each per group (spec §9 item 19).

Each group still sees only its part, exactly what `gathering.gather_group`
would have shown it (its servers; the nodes and health monitors of the load
balancers of its configuration, of its record and of its servers'
metadata), and each group's failure is its own: a load balancer that could
not be read fails the groups that care about it and no other. Nothing is
kept beyond one round: every round observes afresh, so an out-of-band change
is seen at the next one.

test-case-name: tests.convergence.test_tenant_view
"""

from __future__ import annotations

from collections.abc import Generator, Iterable, Mapping
from typing import Any

from attrs import evolve, field, frozen
from effect import Constant, Effect, parallel
from effect.do import do
from pyrsistent import PMap, pmap

from otter2.cloud.messages import CLOUD_LOAD_BALANCERS, RACKCONNECT
from otter2.convergence.gathering import (
    GatherError,
    addresses_of,
    all_at_once,
    as_gather_error,
    by_number,
    gather_lb,
    gather_members,
    gather_rcv3,
    lbs_to_read,
    list_clb_ids,
)
from otter2.model.cloud import (
    CLB,
    CLBDescription,
    CLBNode,
    LBDescription,
    LBNode,
    Observation,
    ObservedServer,
    RCv3Description,
    RCv3Node,
)


def _frozen_map(value: Mapping[Any, Any]) -> PMap:
    return pmap(value)


@frozen
class TenantView:
    """
    What one gather saw of a tenant for some of its groups: ``failure`` when
    the servers could not be listed (it is every group's); else ``members``
    (group id to its servers), ``wanted`` (group id to the load balancers
    its gather reads), ``clbs`` (load balancer id to its nodes and `CLB`, to
    None when it is gone, or to the `GatherError` reading it raised) and
    ``pools`` (the RackConnect v3 members, or the error).
    """

    failure: GatherError | None = None
    members: PMap = field(factory=pmap, converter=_frozen_map)
    clbs: PMap = field(factory=pmap, converter=_frozen_map)
    pools: list[RCv3Node] | GatherError = field(factory=list)
    wanted: PMap = field(factory=pmap, converter=_frozen_map)

    def observation(self, group_id: str,
                    lbs: Iterable[LBDescription] | None = None) -> Observation:
        """
        The group's `Observation`: its servers and the load balancers of
        ``lbs`` (by default those the view was gathered with for the group)
        and of its servers' metadata; raises the `GatherError` of any part it
        needs that could not be read. A DRAINING node at none of its servers'
        addresses says nothing of its drain, as in the group's own gather
        (another group of the round may have had it looked into).
        """
        if self.failure is not None:
            raise self.failure
        servers: list[ObservedServer] = self.members.get(group_id, [])
        addresses = addresses_of(servers)
        wanted: set[LBDescription] = (
            self.wanted[group_id] if lbs is None and group_id in self.wanted
            else lbs_to_read(lbs or (), servers))
        nodes: list[LBNode] = []
        clbs: dict[str, CLB] = {}
        for lb_id in sorted({lb.lb_id for lb in wanted if isinstance(lb, CLBDescription)},
                            key=by_number):
            seen = self.clbs.get(lb_id)
            if isinstance(seen, GatherError):
                raise seen
            if seen is None:
                continue
            lb_nodes, found = seen
            nodes.extend(_as_seen_by(node, addresses) for node in lb_nodes)
            if found is not None:
                clbs[lb_id] = found
        pool_ids = {lb.lb_id.lower() for lb in wanted if isinstance(lb, RCv3Description)}
        if pool_ids:
            if isinstance(self.pools, GatherError):
                raise self.pools
            nodes.extend(node for node in self.pools
                         if node.description.lb_id.lower() in pool_ids)
        return Observation(servers=servers, lb_nodes=nodes, clbs=clbs)


def _as_seen_by(node: CLBNode, addresses: set[str]) -> CLBNode:
    """The node as a gather for the servers at ``addresses`` shows it: one at
    none of them was not looked into, so it says nothing of its drain."""
    if node.address in addresses or (node.drained_at is None and node.connections is None):
        return node
    return evolve(node, drained_at=None, connections=None)


@do
def gather_tenant(tenant_id: str, groups: Mapping[str, Iterable[LBDescription]],
                  ) -> Generator[Effect, Any, TenantView]:
    """
    Effect resulting in the `TenantView` of the tenant for ``groups`` (group
    id to the load balancers it cares about beyond its servers' metadata):
    the servers listed once, then, at once, every load balancer and pool any
    of the groups needs, each read once. It never fails: what could not be
    read is in the view.
    """
    try:
        members: dict[str, list[ObservedServer]] = yield gather_members(tenant_id, groups)
    except GatherError as error:
        return TenantView(failure=error)
    wanted_by_group = {group_id: lbs_to_read(lbs, members.get(group_id, []))
                       for group_id, lbs in groups.items()}
    wanted: set[LBDescription] = set().union(*wanted_by_group.values())
    clb_ids = {lb.lb_id for lb in wanted if isinstance(lb, CLBDescription)}
    pool_ids = {lb.lb_id for lb in wanted if isinstance(lb, RCv3Description)}
    addresses = addresses_of(server for servers in members.values() for server in servers)
    clbs, pools = yield parallel([
        _gather_clbs(tenant_id, clb_ids, addresses),
        gather_rcv3(tenant_id, pool_ids).on(
            error=lambda error: as_gather_error(RACKCONNECT, error)),
    ])
    return TenantView(members=members, clbs=clbs, pools=pools, wanted=wanted_by_group)


def _gather_clbs(tenant_id: str, lb_ids: set[str], addresses: set[str]) -> Effect:
    """
    Effect resulting in each of ``lb_ids`` that exists mapped to its nodes and
    `CLB` (or None when gone meanwhile), or to the error reading it raised; a
    listing that fails maps every id to its error. Only the DRAINING nodes at
    ``addresses`` (the groups' servers) are looked into.
    """
    if not lb_ids:
        return Effect(Constant({}))

    def each(present: list[str]) -> Effect:
        reads = [gather_lb(tenant_id, lb_id, addresses).on(
            error=lambda error: as_gather_error(CLOUD_LOAD_BALANCERS, error))
            for lb_id in present]
        return all_at_once(reads).on(lambda results: dict(zip(present, results, strict=True)))

    def unlisted(error: BaseException) -> dict[str, GatherError]:
        failure = as_gather_error(CLOUD_LOAD_BALANCERS, error)
        return {lb_id: failure for lb_id in lb_ids}

    return list_clb_ids(tenant_id, lb_ids).on(each, error=unlisted)


__all__ = ["TenantView", "gather_tenant"]
