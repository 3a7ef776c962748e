"""
Tests for otter2.cloud.courtesy: which throttle a request takes, and the
Retry-After windows, as properties over a fake clock's instants.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from pyrsistent import pmap
from twisted.trial.unittest import SynchronousTestCase

from otter2.cloud import clb, nova, rcv3
from otter2.cloud.courtesy import (
    THROTTLE_KINDS,
    RetryWindows,
    Throttle,
    asked_wait,
    held_answer,
    throttle_for,
)
from otter2.cloud.request import Response, ServiceRequest, ServiceType
from otter2.config import THROTTLE_KEYS
from otter2.model.outcome import StepOutcome, Verdict

tenants = st.sampled_from(["t1", "t2", "t3"])
services = st.sampled_from(list(ServiceType))
instants = st.floats(0, 1e6, allow_nan=False)
waits = st.floats(0, 3600, allow_nan=False)
holds = st.lists(st.tuples(tenants, services, waits, st.floats(0, 100, allow_nan=False)),
                 max_size=12)

ALL_DELAYS = pmap({kind: 0.5 for kind in THROTTLE_KINDS.values()})


def request(service: ServiceType, method: str, tenant_id: str = "t1") -> ServiceRequest:
    return ServiceRequest(tenant_id, service, method, "anything")


class RetryWindowsTests(SynchronousTestCase):
    """The instants before which a tenant may not call a service again."""

    @given(holds=holds, start=instants, tenant=tenants, service=services,
           later=st.floats(0, 8000, allow_nan=False))
    def test_waits_until_the_latest_instant_asked(
            self, holds: list[tuple[str, ServiceType, float, float]], start: float,
            tenant: str, service: ServiceType, later: float) -> None:
        """After any holds, a (tenant, service) waits until the latest instant
        asked for it, and no other pair's hold delays it."""
        windows, now, until = RetryWindows(), start, start
        for held_tenant, held_service, seconds, step in holds:
            now += step
            windows = windows.hold(held_tenant, held_service, now, seconds)
            if (held_tenant, held_service) == (tenant, service):
                until = max(until, now + seconds)
        at = now + later
        self.assertAlmostEqual(windows.wait(tenant, service, at), max(0.0, until - at))

    @given(holds=holds.filter(bool), start=instants)
    def test_forgets_ended_windows(
            self, holds: list[tuple[str, ServiceType, float, float]], start: float) -> None:
        """A hold keeps only the windows still open then, besides its own."""
        windows, now = RetryWindows(), start
        for tenant, service, seconds, step in holds:
            now += step
            windows = windows.hold(tenant, service, now, seconds)
        last = (tenant, service)
        self.assertEqual([key for key, until in windows.not_before.items()
                          if until <= now and key != last], [])

    def test_fresh_windows_hold_nothing(self) -> None:
        """Without a hold every call goes at once."""
        self.assertEqual(RetryWindows().wait("t1", ServiceType.CLOUD_SERVERS, 5.0), 0.0)


class AskedWaitTests(SynchronousTestCase):
    """The wait a rate-limited answer asks for."""

    def test_rate_limited_statuses(self) -> None:
        """413 and 429 with Retry-After ask for its seconds; other statuses ask nothing."""
        headers = {"retry-after": "30"}
        self.assertEqual(asked_wait(Response(429, None, headers)), 30.0)
        self.assertEqual(asked_wait(Response(413, None, headers)), 30.0)
        self.assertIsNone(asked_wait(Response(503, None, headers)))
        self.assertIsNone(asked_wait(Response(429, None)))
        self.assertIsNone(asked_wait(Response(429, None, {"retry-after": "soon"})))


class HeldAnswerTests(SynchronousTestCase):
    """The answer to a call held back reads as the service's own rate limit."""

    @given(st.integers(1, 86399))
    def test_asks_for_the_seconds_left(self, seconds: int) -> None:
        """It is a 429 asking for exactly the seconds given."""
        answer = held_answer(seconds)
        self.assertEqual((answer.status, asked_wait(answer)), (429, float(seconds)))

    def test_steps_retry_after_the_wait(self) -> None:
        """Every kind of step reads it as a RETRY after the wait, never a group error."""
        answer = held_answer(30)
        outcomes = [clb.classify_add_nodes("5", answer), clb.classify_remove_nodes("5", answer),
                    clb.classify_change_node("5", "1", answer),
                    nova.classify_create_server(answer), nova.classify_delete_server("s1", answer),
                    nova.classify_replace_metadata("s1", answer),
                    nova.classify_set_metadata_item("s1", "k", answer),
                    rcv3.classify_bulk_add([("p", "s1")], answer),
                    rcv3.classify_bulk_remove([("p", "s1")], answer)]
        self.assertEqual({(o.verdict, o.retry_after) if isinstance(o, StepOutcome) else o
                          for o in outcomes}, {(Verdict.RETRY, 30.0)})
        self.assertIn("the wait asked ends in 30 s", clb.classify_add_nodes("5", answer).reasons[0])


class ThrottleForTests(SynchronousTestCase):
    """Which throttle a request takes (spec §3.6)."""

    def test_off_by_default(self) -> None:
        """With no delays configured nothing is throttled."""
        for service, method in THROTTLE_KINDS:
            self.assertIsNone(throttle_for(request(service, method), pmap()))

    def test_every_configurable_throttle_has_a_kind(self) -> None:
        """The kinds are exactly the keys ``cloud_client.throttling`` accepts."""
        self.assertEqual(sorted(THROTTLE_KINDS.values()), sorted(THROTTLE_KEYS))

    def test_nova_reads_and_writes_are_never_throttled(self) -> None:
        """Nova GET and PUT take no throttle even with every delay configured."""
        for method in ("GET", "PUT"):
            self.assertIsNone(throttle_for(request(ServiceType.CLOUD_SERVERS, method),
                                           ALL_DELAYS))

    def test_scope(self) -> None:
        """CLB throttles hold per tenant; Nova's and RCv3's for the whole node."""
        self.assertEqual(
            throttle_for(request(ServiceType.CLOUD_LOAD_BALANCERS, "post", "t2"), ALL_DELAYS),
            Throttle("post_clb_delay", "t2", 0.5))
        self.assertEqual(
            throttle_for(request(ServiceType.CLOUD_SERVERS, "POST", "t2"), ALL_DELAYS),
            Throttle("create_server_delay", None, 0.5))
        self.assertEqual(
            throttle_for(request(ServiceType.RACKCONNECT_V3, "DELETE", "t2"), ALL_DELAYS),
            Throttle("delete_rcv3_delay", None, 0.5))

    def test_only_the_configured_kind(self) -> None:
        """A delay for one kind throttles that kind only."""
        delays = pmap({"delete_server_delay": 0.4})
        self.assertEqual(throttle_for(request(ServiceType.CLOUD_SERVERS, "DELETE"), delays),
                         Throttle("delete_server_delay", None, 0.4))
        self.assertIsNone(throttle_for(request(ServiceType.CLOUD_SERVERS, "POST"), delays))
