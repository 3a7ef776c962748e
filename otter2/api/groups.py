"""
Routes of scaling groups: list, create, manifest, delete, state, configs,
pause, resume, converge and servers.

test-case-name: tests.api.test_groups, tests.api.test_clients
"""

from __future__ import annotations

from uuid import uuid4

from attrs import evolve
from twisted.web.server import Request

from otter2.api import changes, operations
from otter2.api.base import Reply, app, endpoint
from otter2.api.encoded import dumps, json_array, json_object
from otter2.api.launch_check import check_launch_config
from otter2.api.plans import PlanPreviews, render_preview
from otter2.api.render import (
    next_links,
    render_group_config,
    render_manifest,
)
from otter2.api.request import parse_bool, parse_limit, query_arg
from otter2.api.servers import find_member, remove_server, server_not_found
from otter2.control import validation
from otter2.control.errors import APIError
from otter2.control.policy import (
    check_may_change,
    clamp_state,
    no_such_group,
    tenant_suspended,
)
from otter2.control.schedule import policy_event
from otter2.convergence.iteration import is_stack_group
from otter2.model import GroupState, ScalingGroup, thaw_json
from otter2.store import intents as store
from otter2.store.interface import NoSuchGroup, OverLimit


def _not_implemented(what: str, tenant_id: str, group_id: str) -> APIError:
    """The 501 of the server reads, pointing at the group state instead."""
    return APIError(501, "NotImplementedError",
                    f"{what} is not implemented; GET /v1.0/{tenant_id}/groups/{group_id}"
                    "/state lists the group's active servers, each with its links to "
                    "Cloud Servers")


class GroupRoutes(PlanPreviews):
    """The group endpoints (spec rest-api §4.1 – §4.10)."""

    # -- groups -----------------------------------------------------------------

    @app.route("/v1.0/<tenant_id>/groups/", methods=["GET"], strict_slashes=False)
    @endpoint
    async def list_groups(self, request: Request, tenant_id: str) -> Reply:
        limit = parse_limit(request, self.limits.pagination)
        groups = await self._do(store.ListGroups(tenant_id, limit, query_arg(request, "marker")))
        # See Note [Encoded groups].
        return Reply(200, json_object([
            ("groups", json_array([self.encoded.entry(g) for g in groups])),
            ("groups_links", dumps(next_links(self.links.groups(tenant_id),
                                              [g.group_id for g in groups], limit))),
        ]))

    @app.route("/v1.0/<tenant_id>/groups/", methods=["POST"], strict_slashes=False)
    @endpoint
    async def create_group(self, request: Request, tenant_id: str) -> Reply:
        now = self._clock.seconds()
        body = validation.validate_group_create(self._json(request), now,
                                                max_items=self.limits.pagination)
        if self.config.identity is not None:
            await self._do(check_launch_config(tenant_id, body["launchConfiguration"]))
        group_id = str(uuid4())
        config = body["groupConfiguration"]
        policies = [self._new_policy(tenant_id, group_id, data)
                    for data in body["scalingPolicies"]]
        state = GroupState(tenant_id=tenant_id, group_id=group_id,
                           desired=config["minEntities"])
        group = ScalingGroup(tenant_id=tenant_id, group_id=group_id, config=config,
                             launch=body["launchConfiguration"], state=state, created=now)
        events = [e for e in (policy_event(p, now, self.config.scheduler.buckets) for p in policies) if e]
        try:
            await self._do(store.CreateGroup(group, policies, events,
                                             self.limits.max_groups))
        except OverLimit:
            raise APIError(422, "ScalingGroupOverLimitError",
                           f"Allowed limit of {self.limits.max_groups} scaling groups "
                           f"reached by tenant {tenant_id}") from None
        await self._do(store.MarkDivergent(tenant_id, group_id))
        await self._journal(changes.group_created(group, str(uuid4()), now))
        document = render_manifest(self.links, group, policies, self.limits.pagination)
        return Reply(201, {"group": document},
                     {"Location": self.links.group(tenant_id, group_id)})

    @app.route("/v1.0/<tenant_id>/groups/<group_id>/", methods=["GET"],
               strict_slashes=False)
    @endpoint
    async def show_group(self, request: Request, tenant_id: str, group_id: str) -> Reply:
        group = await self._group(tenant_id, group_id)
        policies = await self._do(store.ListPolicies(tenant_id, group_id, -1, None))
        with_webhooks = (query_arg(request, "webhooks") or "").lower() == "true"
        webhooks = (await self._do(store.ListGroupWebhooks(tenant_id, group_id))
                    if with_webhooks else None)
        return Reply(200, {"group": render_manifest(
            self.links, group, policies, self.limits.pagination, webhooks)})

    @app.route("/v1.0/<tenant_id>/groups/<group_id>/", methods=["DELETE"],
               strict_slashes=False)
    @endpoint
    async def delete_group(self, request: Request, tenant_id: str, group_id: str) -> Reply:
        force = parse_bool(request, "force", False)
        group = await self._group(tenant_id, group_id)
        if not force and group.state.desired != 0:
            raise APIError(403, "GroupNotEmptyError",
                           f"Group {group_id} for tenant {tenant_id} still has entities.")
        try:
            await self._do(store.MarkDeleting(tenant_id, group_id))
        except NoSuchGroup:
            raise no_such_group(tenant_id, group_id) from None
        await self._do(store.MarkDivergent(tenant_id, group_id))
        return Reply(204)

    # Note [State names its group]
    # GET …/state answers the state object (rest-api §3.5) led by the group's
    # ``id`` and self ``links``, as the first Auto Scale API did. Clients written
    # against it need them: jclouds' rackspace-autoscale reads this answer into a
    # GroupState whose constructor copies ``links`` and fails when they are absent.
    # Clients that do not know the two members ignore them (pyrax, gophercloud and
    # fog read the members they name). The state inside a list entry or a manifest
    # stays as it was: the entry is exactly id, links and state (§4.1), and both
    # carry the id and links beside the state already.
    @app.route("/v1.0/<tenant_id>/groups/<group_id>/state/", methods=["GET"],
               strict_slashes=False)
    @endpoint
    async def group_state(self, request: Request, tenant_id: str, group_id: str) -> Reply:
        group = await self._group(tenant_id, group_id)
        # See Note [Encoded groups] and Note [State names its group].
        return Reply(200, json_object([("group", self.encoded.identified_state(group))]))

    @app.route("/v1.0/<tenant_id>/groups/<group_id>/config/", methods=["GET"],
               strict_slashes=False)
    @endpoint
    async def show_config(self, request: Request, tenant_id: str, group_id: str) -> Reply:
        group = await self._group(tenant_id, group_id)
        return Reply(200, {"groupConfiguration": render_group_config(group)})

    @app.route("/v1.0/<tenant_id>/groups/<group_id>/config/", methods=["PUT"],
               strict_slashes=False)
    @endpoint
    async def update_config(self, request: Request, tenant_id: str, group_id: str) -> Reply:
        now = self._clock.seconds()
        config = validation.validate_group_config(self._json(request))
        group = await self._group(tenant_id, group_id)
        if group.state.suspended:
            raise tenant_suspended(tenant_id)
        if parse_bool(request, "dry_run", False):
            changed = evolve(group, config=config)
            return Reply(200, await self._dry_run(evolve(changed, state=clamp_state(changed))))
        try:
            await self._do(store.UpdateConfig(tenant_id, group_id, config))
        except NoSuchGroup:
            raise no_such_group(tenant_id, group_id) from None
        before = [group.state.desired]

        def clamped(changed: ScalingGroup) -> GroupState:
            before[:] = [changed.state.desired]  # as the saved state's change saw it
            return clamp_state(changed)
        saved = await self._do(operations.modify_state(tenant_id, group_id, clamped))
        await self._do(store.MarkDivergent(tenant_id, group_id))
        await self._journal(changes.config_changed(group, config, before[0], saved.desired,
                                                   str(uuid4()), now))
        return Reply(204)

    @app.route("/v1.0/<tenant_id>/groups/<group_id>/launch/", methods=["GET"],
               strict_slashes=False)
    @endpoint
    async def show_launch(self, request: Request, tenant_id: str, group_id: str) -> Reply:
        group = await self._group(tenant_id, group_id)
        return Reply(200, {"launchConfiguration": thaw_json(group.launch)})

    @app.route("/v1.0/<tenant_id>/groups/<group_id>/launch/", methods=["PUT"],
               strict_slashes=False)
    @endpoint
    async def update_launch(self, request: Request, tenant_id: str, group_id: str) -> Reply:
        now = self._clock.seconds()
        launch = validation.validate_launch_config(self._json(request))
        if self.config.identity is not None:
            await self._do(check_launch_config(tenant_id, launch))
        if parse_bool(request, "dry_run", False):
            group = await self._group(tenant_id, group_id)
            return Reply(200, await self._dry_run(evolve(group, launch=launch)))
        try:
            await self._do(store.UpdateLaunch(tenant_id, group_id, launch))
        except NoSuchGroup:
            raise no_such_group(tenant_id, group_id) from None
        await self._journal(changes.launch_changed((tenant_id, group_id), str(uuid4()), now))
        return Reply(204)

    @app.route("/v1.0/<tenant_id>/groups/<group_id>/pause/", methods=["POST"],
               strict_slashes=False)
    @endpoint
    async def pause(self, request: Request, tenant_id: str, group_id: str) -> Reply:
        # The group's divergent mark is left as it is (Otter deleted its flag): the
        # converger leaves a paused group alone and then clears the mark it looked
        # at. Deleted here, the mark would start again at 1 on resume and look like
        # the one a converger still waits on, which would hold the resumed group
        # back until that wait ended (Note [Divergent marks]).
        now = self._clock.seconds()
        await self._do(operations.modify_state(
            tenant_id, group_id, lambda g: evolve(g.state, paused=True)))
        await self._journal(changes.pause_changed((tenant_id, group_id), True, str(uuid4()),
                                                  now))
        return Reply(204)

    @app.route("/v1.0/<tenant_id>/groups/<group_id>/resume/", methods=["POST"],
               strict_slashes=False)
    @endpoint
    async def resume(self, request: Request, tenant_id: str, group_id: str) -> Reply:
        now = self._clock.seconds()
        await self._do(operations.modify_state(
            tenant_id, group_id, lambda g: evolve(g.state, paused=False)))
        await self._do(store.MarkDivergent(tenant_id, group_id))
        await self._journal(changes.pause_changed((tenant_id, group_id), False, str(uuid4()),
                                                  now))
        return Reply(204)

    @app.route("/v1.0/<tenant_id>/groups/<group_id>/converge/", methods=["POST"],
               strict_slashes=False)
    @endpoint
    async def converge(self, request: Request, tenant_id: str, group_id: str) -> Reply:
        group = await self._group(tenant_id, group_id)
        check_may_change(group, "converge")
        await self._check_plan(request, group)
        await self._do(store.MarkDivergent(tenant_id, group_id))
        return Reply(204)

    @app.route("/v1.0/<tenant_id>/groups/<group_id>/plan/", methods=["GET"],
               strict_slashes=False)
    @endpoint
    async def show_plan(self, request: Request, tenant_id: str, group_id: str) -> Reply:
        group = await self._group(tenant_id, group_id)
        return Reply(200, {"plan": render_preview(await self._preview(group))})

    @app.route("/v1.0/<tenant_id>/groups/<group_id>/why/", methods=["GET"],
               strict_slashes=False)
    @endpoint
    async def show_why(self, request: Request, tenant_id: str, group_id: str) -> Reply:
        group = await self._group(tenant_id, group_id)
        policies = await self._do(store.ListPolicies(
            tenant_id, group_id, self.limits.max_policies_per_group, None))
        return Reply(200, {"why": await self._why(group, policies)})

    # -- servers ----------------------------------------------------------------

    @app.route("/v1.0/<tenant_id>/groups/<group_id>/servers/<server_id>/",
               methods=["DELETE"], strict_slashes=False)
    @endpoint
    async def delete_server(self, request: Request, tenant_id: str, group_id: str,
                            server_id: str) -> Reply:
        now = self._clock.seconds()
        replace = parse_bool(request, "replace", True)
        purge = parse_bool(request, "purge", True)
        if self.config.identity is None:
            # Without a cloud to look the server up in, no server is in the group.
            group = await self._group(tenant_id, group_id)
            if group.state.suspended:
                raise tenant_suspended(tenant_id)
            raise server_not_found(tenant_id, group_id, server_id)
        if parse_bool(request, "dry_run", False):
            group, _ = await self._do(find_member(tenant_id, group_id, server_id, replace))
            if not replace:
                group = evolve(group, state=evolve(group.state,
                                                   desired=group.state.desired - 1))
            purged = purge and not is_stack_group(group)
            return Reply(200, await self._dry_run(group, draining=server_id if purged else None,
                                                  without=None if purged else server_id))
        lowered = await self._do(remove_server(tenant_id, group_id, server_id, replace, purge))
        await self._journal(changes.server_removed(
            (tenant_id, group_id), server_id, replace, purge,
            None if lowered is None else lowered.desired, str(uuid4()), now))
        return Reply(202)

    @app.route("/v1.0/<tenant_id>/groups/<group_id>/servers/", methods=["GET"],
               strict_slashes=False)
    @endpoint
    async def list_servers(self, request: Request, tenant_id: str, group_id: str) -> Reply:
        parse_limit(request, self.limits.pagination)
        raise _not_implemented("Listing the servers of a group", tenant_id, group_id)

    @app.route("/v1.0/<tenant_id>/groups/<group_id>/servers/<server_id>/",
               methods=["GET"], strict_slashes=False)
    @endpoint
    async def show_server(self, request: Request, tenant_id: str, group_id: str,
                          server_id: str) -> Reply:
        raise _not_implemented("Showing one server of a group", tenant_id, group_id)
