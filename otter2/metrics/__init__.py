"""
The daemon's Prometheus metrics: one `Metrics` per daemon, holding its own
registry (never the library's global one: tests run several daemons in one
process), the families below, and the observers the daemon's parts call.

# Note [Metrics seams]
The parts that produce figures know nothing of Prometheus: each takes a plain
callable, and the composition root passes one of `Metrics`' observers.

- the converger calls ``iteration_concluded`` with each `Conclusion` and the
  seconds its round took (iterations by verdict, their duration, the steps by
  kind and verdict);
- the `ServiceRequest` performer calls ``cloud_answered`` with each answer
  (requests by service, method and status class, latency), and the pace of
  calls (``otter2.effects.courtesy``) calls ``cloud_waited`` for each
  throttle or ``Retry-After`` wait;
- the scheduler calls ``event_fired`` with each `Fired`;
- the API's request wrapper calls ``api_answered`` (requests by route
  template, method, status class, latency).

The figures of the store (groups by status; desired, actual and pending
servers) and the scheduler's overdue events are read when Prometheus scrapes
(``otter2.api.app``), so they are never stale; the divergence watch
(``otter2.service.divergence``) calls ``divergence_watched`` after each look.

test-case-name: tests.test_metrics
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder

from otter2.cloud.request import Response, ServiceRequest
from otter2.convergence.conclusion import Conclusion
from otter2.convergence.divergence import Watched
from otter2.convergence.figures import STATUS_LABELS, GroupFigures
from otter2.scheduling.firing import Fired

#: Buckets, in seconds, of the latency of one call (to the cloud or of the API).
CALL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

#: Buckets, in seconds, of an iteration's duration and a scheduled event's lateness.
SLOW_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0)


def status_class(status: int | None) -> str:
    """A status as its class ("2xx", "5xx"), or "error" when no answer came."""
    return "error" if status is None else f"{status // 100}xx"


class Metrics:
    """The families of one daemon, and the observers that move them."""

    def __init__(self, per_group: bool = False) -> None:
        self.registry = registry = CollectorRegistry()
        self.per_group = per_group
        self.groups = Gauge("otter2_groups", "Scaling groups by status.", ["status"],
                            registry=registry)
        self.servers = Gauge("otter2_servers", "Servers of every group, desired, actual "
                             "(active) and pending (recorded, not active).", ["kind"],
                             registry=registry)
        self.group_servers = Gauge(
            "otter2_group_servers", "Servers of each group (only with metrics.per_group).",
            ["tenant", "group", "kind"], registry=registry)
        self.iterations = Counter("otter2_convergence_iterations",
                                  "Convergence iterations by verdict.", ["verdict"],
                                  registry=registry)
        self.iteration_seconds = Histogram(
            "otter2_convergence_iteration_duration_seconds",
            "Seconds from the start of an iteration's round to its conclusion.",
            buckets=SLOW_BUCKETS, registry=registry)
        self.steps = Counter("otter2_convergence_steps",
                             "Convergence steps executed, by kind and verdict.",
                             ["kind", "outcome"], registry=registry)
        self.divergent = Gauge("otter2_divergent_groups",
                               "Groups whose actual and pending servers differ from desired.",
                               registry=registry)
        self.oldest_divergence = Gauge(
            "otter2_oldest_divergence_seconds",
            "Seconds the longest-diverged group has stayed diverged and unchanged.",
            registry=registry)
        self.divergence_alarms = Counter(
            "otter2_divergence_alarms",
            "Times a group was found diverged and unchanged for longer than "
            "metrics.divergent_timeout.", registry=registry)
        self.cloud_requests = Counter("otter2_cloud_requests",
                                      "Requests to the cloud by service, method and status "
                                      "class.", ["service", "method", "status"],
                                      registry=registry)
        self.cloud_seconds = Histogram("otter2_cloud_request_duration_seconds",
                                       "Seconds a request to the cloud took.",
                                       ["service", "method"], buckets=CALL_BUCKETS,
                                       registry=registry)
        self.cloud_waits = Counter("otter2_cloud_waits",
                                   "Waits before calling the cloud: a throttle's delay, a "
                                   "Retry-After sat out, or one answered at once as refused.",
                                   ["service", "reason"], registry=registry)
        self.cloud_wait_seconds = Counter("otter2_cloud_wait_seconds",
                                          "Seconds spent or asked waiting before calling "
                                          "the cloud.", ["service", "reason"],
                                          registry=registry)
        self.events_fired = Counter("otter2_scheduler_events_fired",
                                    "Scheduled policy events fired, by outcome.", ["outcome"],
                                    registry=registry)
        self.event_lateness = Histogram("otter2_scheduler_event_lateness_seconds",
                                        "Seconds between an event's trigger and its firing.",
                                        buckets=SLOW_BUCKETS, registry=registry)
        self.events_overdue = Gauge("otter2_scheduler_overdue_seconds",
                                    "Seconds the earliest due event of this node's buckets "
                                    "has waited (0 when none is due).", registry=registry)
        self.api_requests = Counter("otter2_api_requests",
                                    "API requests by route template, method and status "
                                    "class.", ["route", "method", "status"], registry=registry)
        self.api_seconds = Histogram("otter2_api_request_duration_seconds",
                                     "Seconds the API took to answer.", ["route", "method"],
                                     buckets=CALL_BUCKETS, registry=registry)
        self._api_children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        for label in STATUS_LABELS:
            self.groups.labels(label)
        for kind in ("desired", "actual", "pending"):
            self.servers.labels(kind)

    # -- observers (Note [Metrics seams]) -------------------------------------

    def iteration_concluded(self, conclusion: Conclusion, seconds: float) -> None:
        """Count an iteration, its duration and its steps."""
        self.iterations.labels(conclusion.verdict.name).inc()
        self.iteration_seconds.observe(seconds)
        for (kind, outcome), count in Tally(map(tuple, conclusion.steps)).items():
            self.steps.labels(kind, outcome).inc(count)

    def cloud_answered(self, request: ServiceRequest, response: Response | None,
                       seconds: float) -> None:
        """Count a request to the cloud (``response`` None: the transport failed)."""
        service = request.service.value
        self.cloud_requests.labels(service, request.method,
                                   status_class(None if response is None
                                                else response.status)).inc()
        self.cloud_seconds.labels(service, request.method).observe(seconds)

    def cloud_waited(self, request: ServiceRequest, reason: str, seconds: float) -> None:
        """Count a wait before a call: ``reason`` is throttle, retry_after or refused."""
        self.cloud_waits.labels(request.service.value, reason).inc()
        self.cloud_wait_seconds.labels(request.service.value, reason).inc(seconds)

    def event_fired(self, fired: Fired) -> None:
        """Count a scheduled event fired, and how late."""
        self.events_fired.labels(fired.firing.outcome.value).inc()
        self.event_lateness.observe(fired.lateness)

    def api_answered(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count an answered API request."""
        key = (route, method, status // 100)
        children = self._api_children.get(key)
        if children is None:
            # Looking the labels up takes a lock and checks them: once per
            # route, method and status class, not once per request.
            children = self._api_children[key] = (
                self.api_requests.labels(route, method, status_class(status)),
                self.api_seconds.labels(route, method))
        requests, latency = children
        requests.inc()
        latency.observe(seconds)

    def divergence_watched(self, watched: Watched, now: float) -> None:
        """Set the divergence gauges to what the watch found, and count its alarms."""
        self.divergent.set(len(watched.tracked))
        self.oldest_divergence.set(watched.oldest(now))
        self.divergence_alarms.inc(len(watched.alarms))

    # -- read at scrape time --------------------------------------------------

    def groups_seen(self, figures: Iterable[GroupFigures]) -> None:
        """Set the group and server gauges to ``figures`` (every group in the store)."""
        statuses: Tally[str] = Tally()
        totals: Tally[str] = Tally()
        if self.per_group:
            self.group_servers.clear()
        for group in figures:
            statuses[group.status] += 1
            for kind, value in (("desired", group.desired), ("actual", group.actual),
                                ("pending", group.pending)):
                totals[kind] += value
                if self.per_group:
                    self.group_servers.labels(group.tenant_id, group.group_id, kind).set(value)
        for label in STATUS_LABELS:
            self.groups.labels(label).set(statuses[label])
        for kind in ("desired", "actual", "pending"):
            self.servers.labels(kind).set(totals[kind])

    def exposition(self, accept: str) -> tuple[bytes, str]:
        """The registry in the format ``accept`` asks for (OpenMetrics or text), and its
        content type."""
        encoder, content_type = choose_encoder(accept)
        return encoder(self.registry), content_type


def wants_prometheus(accept: str) -> bool:
    """
    Whether a request to ``/metrics`` with this Accept header is a Prometheus
    scrape: it names the text exposition format or OpenMetrics, as Prometheus
    always does. Anything else (Otter's clients, ``*/*``, no header) gets
    Otter's JSON. See docs/deployment.md.
    """
    accept = accept.lower()
    return "text/plain" in accept or "application/openmetrics-text" in accept
