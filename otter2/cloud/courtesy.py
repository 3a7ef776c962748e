"""
What courtesy to the cloud asks, decided purely: which throttle a request
waits on (spec §3.6), and when a tenant may call a service again after the
service asked it to slow down (a 413 or 429 with ``Retry-After``).

The performer (``otter2.effects.courtesy``) keeps the locks and the clock;
this module only says what to wait for.

# Note [Rate limits are the tenant's]
Nova, Cloud Load Balancers and RackConnect v3 count requests per account.
When one of them answers a tenant's request with 413 or 429 and a
``Retry-After``, every call of that tenant to that service waits until the
instant asked, whichever group makes it: the first group to hear it RETRYs
with the reason shown and looks again no sooner than asked (see Note
[Looking again] in ``otter2.convergence.conclusion``). The others' calls are
not sent: while more than a moment of the wait is left they are answered at
once with what the service would say (``held_answer``: a 429 with the seconds
left in ``Retry-After``), so their groups RETRY the same way and look again
when the wait ends, instead of holding a converger slot for it (many groups
of one throttled tenant would fill ``converger.concurrency`` and hold every
other tenant back); a call a moment from the end waits for it. Other tenants,
and the tenant's other services, go on at once. Throttles (spec §3.6) are
otter2's own pace, not a refusal: their delays are waited for.

test-case-name: tests.cloud.test_courtesy
"""

from __future__ import annotations

from attrs import field, frozen
from pyrsistent import PMap, pmap

from otter2.cloud.messages import retry_after
from otter2.cloud.request import Response, ServiceRequest, ServiceType

#: The throttle of each kind of request, by its key under
#: ``cloud_client.throttling`` (spec §3.6). Nova GET and PUT have none.
THROTTLE_KINDS: PMap = pmap({
    (ServiceType.CLOUD_SERVERS, "POST"): "create_server_delay",
    (ServiceType.CLOUD_SERVERS, "DELETE"): "delete_server_delay",
    (ServiceType.RACKCONNECT_V3, "GET"): "get_rcv3_delay",
    (ServiceType.RACKCONNECT_V3, "POST"): "create_rcv3_delay",
    (ServiceType.RACKCONNECT_V3, "DELETE"): "delete_rcv3_delay",
    (ServiceType.CLOUD_LOAD_BALANCERS, "GET"): "get_clb_delay",
    (ServiceType.CLOUD_LOAD_BALANCERS, "POST"): "post_clb_delay",
    (ServiceType.CLOUD_LOAD_BALANCERS, "PUT"): "put_clb_delay",
    (ServiceType.CLOUD_LOAD_BALANCERS, "DELETE"): "delete_clb_delay",
})

#: Services whose throttles hold per tenant; the others hold for the whole node.
PER_TENANT_THROTTLES = frozenset({ServiceType.CLOUD_LOAD_BALANCERS})


@frozen
class Throttle:
    """A lock held by requests of one kind (and tenant, for CLB): each waits ``delay`` first."""

    kind: str
    tenant_id: str | None
    delay: float


def throttle_for(request: ServiceRequest, delays: PMap) -> Throttle | None:
    """The throttle ``request`` takes under the configured ``delays``, or None."""
    kind = THROTTLE_KINDS.get((request.service, request.method.upper()))
    if kind is None or kind not in delays:
        return None
    tenant = request.tenant_id if request.service in PER_TENANT_THROTTLES else None
    return Throttle(kind, tenant, float(delays[kind]))


def asked_wait(response: Response) -> float | None:
    """The seconds a rate-limited answer (413 or 429) asks to wait, or None."""
    if response.status not in (413, 429):
        return None
    return retry_after(response)


def held_answer(seconds: int) -> Response:
    """
    The answer to a call not sent because its tenant must wait ``seconds``
    more before calling the service again: the service's own refusal, a 429
    with ``Retry-After`` and an ``overLimit`` body (as Nova and CLB word it).
    """
    message = f"otter2 did not send the call: the wait asked ends in {seconds} s"
    return Response(429, {"overLimit": {"code": 429, "message": message,
                                        "retryAfter": str(seconds)}},
                    {"retry-after": str(seconds), "content-type": "application/json"})


@frozen
class RetryWindows:
    """
    The instants before which each (tenant, service) must not call again;
    see Note [Rate limits are the tenant's].
    """

    not_before: PMap = field(factory=pmap)

    def wait(self, tenant_id: str, service: ServiceType, now: float) -> float:
        """Seconds from ``now`` until the tenant may call the service (0: at once)."""
        until: float = self.not_before.get((tenant_id, service), now)
        return max(0.0, until - now)

    def hold(self, tenant_id: str, service: ServiceType, now: float,
             seconds: float) -> RetryWindows:
        """
        The windows once the service asked the tenant at ``now`` to wait
        ``seconds``: a later instant already kept stays, and windows that
        ended are forgotten.
        """
        key = (tenant_id, service)
        until = max(now + seconds, self.not_before.get(key, now))
        live = {k: v for k, v in self.not_before.items() if v > now}
        live[key] = until
        return RetryWindows(pmap(live))
