"""
Optional authentication of API callers: X-Auth-Token checked by Identity
(a fake of Identity v2 on a loopback port), and the rules of who may do what.
"""

from __future__ import annotations

from typing import Any

from twisted.internet import reactor
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.server import Site

from otter2.api.auth import Caller, check_permission
from otter2.control.errors import APIError
from otter2.effects.auth import AdminSession, TokenValidator
from otter2.effects.http import TimeoutHTTPClient
from tests.api.support import APITestCase, minimal_group, serve_on_loopback
from tests.api.test_errors import assert_error
from tests.effects.test_auth import FakeIdentity


class APIAuthTests(APITestCase):
    """With authentication on, only the tenant's own valid tokens get through."""

    def setUp(self) -> None:
        self.identity = FakeIdentity()
        self.identity_url = serve_on_loopback(
            self, Site(self.identity.app.resource())) + "/v2.0"
        super().setUp()
        admin = AdminSession(TimeoutHTTPClient(self.http, 10), self.identity_url,
                             "otter", "secret")
        self.api.validator = TokenValidator(admin, self.identity_url, reactor, ttl=60)

    async def as_(self, token: str, method: str, url: str, body: Any = None) -> Any:
        return await self.call(method, url, body, headers={"X-Auth-Token": token})

    async def test_no_token(self) -> None:
        """A request without a token is 401 and does nothing."""
        answer = await self.call("POST", "/groups", minimal_group())
        assert_error(self, answer, 401, "Unauthorized")
        self.assertEqual(await self.store.list_groups("t1", 10, None), [])

    async def test_unknown_token(self) -> None:
        """A token Identity does not know is 401."""
        answer = await self.as_("garbage", "GET", "/groups")
        assert_error(self, answer, 401, "Unauthorized")

    async def test_own_token(self) -> None:
        """The tenant's own token may create and read."""
        answer = await self.as_("admin@t1", "POST", "/groups", minimal_group())
        self.assertEqual(answer.code, 201, answer.raw)
        answer = await self.as_("admin@t1", "GET", "/groups")
        self.assertEqual(len(answer.json["groups"]), 1)

    async def test_other_tenants_token(self) -> None:
        """A valid token of another tenant is 403."""
        answer = await self.as_("admin@t2", "GET", "/groups")
        assert_error(self, answer, 403, "Forbidden")

    async def test_observer_reads_only(self) -> None:
        """An observer may read but not change."""
        answer = await self.as_("observer@t1", "GET", "/groups")
        self.assertEqual(answer.code, 200)
        answer = await self.as_("autoscale:observer@t1", "POST", "/groups", minimal_group())
        assert_error(self, answer, 403, "Forbidden")

    async def test_validation_is_cached(self) -> None:
        """A token is checked with Identity once, then remembered."""
        for _ in range(3):
            await self.as_("admin@t1", "GET", "/groups")
        self.assertEqual(self.identity.calls.count("validate admin@t1"), 1)

    async def test_anonymous_execute_stays_open(self) -> None:
        """Capability URLs need no token."""
        group = await self.as_("admin@t1", "POST", "/groups", minimal_group())
        group_id = group.json["group"]["id"]
        policy = await self.as_("admin@t1", "POST", f"/groups/{group_id}/policies",
                                [{"name": "p", "type": "webhook", "change": 1, "cooldown": 0}])
        policy_id = policy.json["policies"][0]["id"]
        hooks = await self.as_("admin@t1", "POST",
                               f"/groups/{group_id}/policies/{policy_id}/webhooks",
                               [{"name": "w"}])
        capability = hooks.json["webhooks"][0]["links"][1]["href"]
        path = capability.split("/v1.0", 1)[1]
        answer = await self.call("POST", self.base + "/v1.0" + path)
        self.assertEqual(answer.code, 202)

    async def test_identity_down(self) -> None:
        """When Identity cannot answer, the caller gets 503, not 500."""
        self.identity.fail_next = [500, 500, 500]
        answer = await self.as_("admin@t1", "GET", "/groups")
        assert_error(self, answer, 503, "IdentityUnavailable")


class CallerTests(SynchronousTestCase):
    """Which callers only observe."""

    def test_observer_roles(self) -> None:
        """A caller with only observer roles is read-only."""
        for roles in [{"observer"}, {"autoscale:observer"}, {"observer", "autoscale:observer"}]:
            self.assertTrue(Caller("t1", frozenset(roles)).read_only, roles)

    def test_other_roles(self) -> None:
        """Any other role, or no role at all, may change things."""
        for roles in [set(), {"admin"}, {"autoscale:admin", "observer"}, {"identity:default"}]:
            self.assertFalse(Caller("t1", frozenset(roles)).read_only, roles)


class PermissionTests(SynchronousTestCase):
    """``check_permission`` refuses other tenants and observers who write."""

    def test_own_tenant(self) -> None:
        """The tenant's admin may do anything; its observer may read."""
        for caller, method in [(Caller("t1", frozenset({"admin"})), b"DELETE"),
                               (Caller("t1", frozenset({"observer"})), b"GET"),
                               (Caller("t1", frozenset({"observer"})), b"HEAD")]:
            check_permission(caller, "t1", method)

    def test_other_tenant(self) -> None:
        """A caller of another tenant is forbidden, even to read."""
        error = self.assertRaises(APIError, check_permission,
                                  Caller("t2", frozenset({"admin"})), "t1", b"GET")
        self.assertEqual((error.status, error.error_type), (403, "Forbidden"))
        self.assertIn("tenant t1", error.message)

    def test_observer_writes(self) -> None:
        """An observer may not change anything."""
        for method in [b"POST", b"PUT", b"DELETE"]:
            error = self.assertRaises(APIError, check_permission,
                                      Caller("t1", frozenset({"observer"})), "t1", method)
            self.assertEqual((error.status, error.message),
                             (403, "An observer may only read"))
