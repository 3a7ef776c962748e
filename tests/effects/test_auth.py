"""
Tests for otter2.effects.auth, against a small fake of Identity v2 served
through treq's StubTreq.
"""

from __future__ import annotations

import json
from typing import Any

from klein import Klein
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from otter2.cloud.request import AuthenticationError
from otter2.effects.auth import (
    AdminSession,
    CachingAuthenticator,
    ImpersonatingAuthenticator,
    InvalidToken,
    PasswordAuthenticator,
    TokenValidator,
    catalog_from_endpoints,
)
from tests.stub_treq import StubTreq

ENDPOINTS = [
    {"name": "cloudServersOpenStack", "type": "compute", "region": "ORD",
     "publicURL": "http://nova/ORD/t1", "tenantId": "t1"},
    {"name": "cloudServersOpenStack", "type": "compute", "region": "DFW",
     "publicURL": "http://nova/DFW/t1", "tenantId": "t1"},
    {"name": "cloudLoadBalancers", "type": "rax:load-balancer", "region": "ORD",
     "publicURL": "http://clb/ORD/t1", "tenantId": "t1"},
]


class FakeIdentity:
    """Identity v2 as otter2 uses it: admin login, mosso lookup, impersonation."""

    app = Klein()

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.admin_tokens = 0
        self.fail_next: list[int] = []  # statuses to answer the next calls with
        self.expired_admin = False

    def _fail(self, request: Any) -> Any:
        if self.fail_next:
            request.setResponseCode(self.fail_next.pop(0))
            return b'{"identityFault": {"message": "identity down"}}'
        return None

    @app.route("/v2.0/tokens", methods=["POST"])
    def tokens(self, request: Any) -> Any:
        self.calls.append("login")
        failed = self._fail(request)
        if failed:
            return failed
        body = json.loads(request.content.read())
        credentials = body["auth"]["passwordCredentials"]
        if credentials["password"] != "secret":
            request.setResponseCode(401)
            return b'{"unauthorized": {"message": "bad password"}}'
        self.admin_tokens += 1
        self.expired_admin = False
        access: dict[str, Any] = {"token": {"id": f"admin-{self.admin_tokens}"}}
        if "tenantId" in body["auth"]:
            access["serviceCatalog"] = catalog_from_endpoints(ENDPOINTS)
        return json.dumps({"access": access}).encode()

    @app.route("/v1.1/mosso/<tenant_id>", methods=["GET"])
    def mosso(self, request: Any, tenant_id: str) -> Any:
        self.calls.append(f"mosso {tenant_id}")
        failed = self._fail(request)
        if failed:
            return failed
        request.setResponseCode(301)
        return json.dumps({"user": {"id": f"user-of-{tenant_id}"}}).encode()

    def _admin(self, request: Any) -> bool:
        token = request.getHeader("x-auth-token")
        if self.expired_admin or not (token or "").startswith("admin-"):
            request.setResponseCode(401)
            return False
        return True

    @app.route("/v2.0/RAX-AUTH/impersonation-tokens", methods=["POST"])
    def impersonate(self, request: Any) -> Any:
        self.calls.append("impersonate")
        failed = self._fail(request)
        if failed:
            return failed
        if not self._admin(request):
            return b"{}"
        user = json.loads(request.content.read())["RAX-AUTH:impersonation"]["user"]
        return json.dumps({"access": {"token": {"id": f"token-{user['username']}"}}}).encode()

    @app.route("/v2.0/tokens/<token>", methods=["GET"])
    def validate(self, request: Any, token: str) -> Any:
        """Caller tokens look like ``<role>@<tenant>``; anything else is unknown."""
        self.calls.append(f"validate {token}")
        if not self._admin(request):
            return b"{}"
        role, _, tenant = token.partition("@")
        if not tenant:
            request.setResponseCode(404)
            return b'{"itemNotFound": {"message": "Token not found."}}'
        return json.dumps({"access": {"token": {"id": token, "tenant": {"id": tenant}},
                                      "user": {"roles": [{"name": role}]}}}).encode()

    @app.route("/v2.0/tokens/<token>/endpoints", methods=["GET"])
    def endpoints(self, request: Any, token: str) -> Any:
        self.calls.append("endpoints")
        if not self._admin(request):
            return b"{}"
        return json.dumps({"endpoints": ENDPOINTS}).encode()


class AuthTestCase(SynchronousTestCase):
    def setUp(self) -> None:
        self.identity = FakeIdentity()
        self.http = StubTreq(self.identity.app.resource())
        self.clock = Clock()

    def impersonating(self, password: str = "secret") -> ImpersonatingAuthenticator:
        return ImpersonatingAuthenticator(self.http, "http://identity/v2.0",
                                          "http://identity/v2.0", "otter", password)

    def result(self, d: Any) -> Any:
        self.http.flush()
        return self.successResultOf(d)


class ImpersonationTests(AuthTestCase):
    """Acting for a tenant by impersonating its user."""

    def test_impersonation(self) -> None:
        """The tenant's user is found, impersonated, and its endpoints grouped."""
        token, catalog = self.result(self.impersonating().authenticate("t1"))
        self.assertEqual(token, "token-user-of-t1")
        self.assertEqual([(s["name"], len(s["endpoints"])) for s in catalog],
                         [("cloudServersOpenStack", 2), ("cloudLoadBalancers", 1)])
        self.assertEqual(self.identity.calls,
                         ["mosso t1", "login", "impersonate", "endpoints"])

    def test_admin_token_reused_then_renewed_after_401(self) -> None:
        """The admin token serves many tenants; a 401 makes one new login."""
        auth = self.impersonating()
        self.result(auth.authenticate("t1"))
        self.result(auth.authenticate("t2"))
        self.assertEqual(self.identity.admin_tokens, 1)
        self.identity.expired_admin = True
        token, _ = self.result(auth.authenticate("t3"))
        self.assertEqual(token, "token-user-of-t3")
        self.assertEqual(self.identity.admin_tokens, 2)

    def test_failure_is_readable(self) -> None:
        """An Identity failure says what otter2 was doing and what Identity said."""
        self.identity.fail_next = [500]
        d = self.impersonating().authenticate("t1")
        self.http.flush()
        error = self.failureResultOf(d, AuthenticationError).value
        self.assertIn("name the user of tenant t1", str(error))
        self.assertIn("HTTP 500", str(error))
        self.assertIn("identity down", str(error))

    def test_bad_admin_password(self) -> None:
        """Wrong admin credentials are reported as such."""
        d = self.impersonating(password="wrong").authenticate("t1")
        self.http.flush()
        error = self.failureResultOf(d, AuthenticationError).value
        self.assertIn("log in the otter2 administrator otter", str(error))


class PasswordTests(AuthTestCase):
    """A single tenant's password login."""

    def test_login(self) -> None:
        """The token and the serviceCatalog of the login answer."""
        auth = PasswordAuthenticator(self.http, "http://identity/v2.0", "otter", "secret")
        token, catalog = self.result(auth.authenticate("t1"))
        self.assertEqual(token, "admin-1")
        self.assertEqual(catalog[0]["name"], "cloudServersOpenStack")


class TokenValidatorTests(AuthTestCase):
    """Asking Identity whose an API caller's token is."""

    def validator(self) -> TokenValidator:
        admin = AdminSession(self.http, "http://identity/v2.0", "otter", "secret")
        return TokenValidator(admin, "http://identity/v2.0", self.clock, ttl=60)

    def test_owner(self) -> None:
        """A valid token gives its tenant and its user's role names."""
        owner = self.result(self.validator().validate("observer@t1"))
        self.assertEqual(owner, ("t1", frozenset({"observer"})))

    def test_unknown(self) -> None:
        """A token Identity does not know raises InvalidToken."""
        d = self.validator().validate("garbage")
        self.http.flush()
        self.failureResultOf(d, InvalidToken)

    def test_remembered_for_ttl(self) -> None:
        """Identity is asked about a token once per ``ttl``, invalid tokens included."""
        validator = self.validator()
        for token in ["admin@t1", "admin@t1", "garbage", "garbage"]:
            d = validator.validate(token)
            self.http.flush()
            self.assertTrue(d.called)
            d.addErrback(lambda failure: failure.trap(InvalidToken))
        self.clock.advance(61)
        self.result(validator.validate("admin@t1"))
        self.assertEqual([call for call in self.identity.calls if call != "login"],
                         ["validate admin@t1", "validate garbage", "validate admin@t1"])


class CachingTests(AuthTestCase):
    """Tokens are kept, shared and retried."""

    def caching(self) -> CachingAuthenticator:
        return CachingAuthenticator(self.impersonating(), self.clock, ttl=300, retries=2,
                                    retry_interval=5)

    def test_cached_for_ttl(self) -> None:
        """A second request within the TTL reuses the token; after it, a new one."""
        auth = self.caching()
        self.result(auth.authenticate("t1"))
        self.result(auth.authenticate("t1"))
        self.assertEqual(self.identity.calls.count("impersonate"), 1)
        self.clock.advance(301)
        self.result(auth.authenticate("t1"))
        self.assertEqual(self.identity.calls.count("impersonate"), 2)

    def test_concurrent_requests_share_a_fetch(self) -> None:
        """Two requests at once make one fetch."""
        auth = self.caching()
        first, second = auth.authenticate("t1"), auth.authenticate("t1")
        self.http.flush()
        self.assertEqual(self.successResultOf(first), self.successResultOf(second))
        self.assertEqual(self.identity.calls.count("mosso t1"), 1)

    def test_invalidate(self) -> None:
        """An invalidated token is fetched again."""
        auth = self.caching()
        self.result(auth.authenticate("t1"))
        auth.invalidate("t1")
        self.result(auth.authenticate("t1"))
        self.assertEqual(self.identity.calls.count("impersonate"), 2)

    def test_brief_outage_is_retried(self) -> None:
        """Two failures then success: the caller only sees the success."""
        self.identity.fail_next = [500, 503]
        auth = self.caching()
        d = auth.authenticate("t1")
        for _ in range(3):
            self.http.flush()
            self.clock.advance(5)
        self.http.flush()
        self.assertEqual(self.successResultOf(d)[0], "token-user-of-t1")

    def test_long_outage_fails_readably(self) -> None:
        """Failures beyond the retries reach the caller as an AuthenticationError."""
        self.identity.fail_next = [500] * 10
        d = self.caching().authenticate("t1")
        for _ in range(4):
            self.http.flush()
            self.clock.advance(5)
        self.http.flush()
        self.failureResultOf(d, AuthenticationError)
