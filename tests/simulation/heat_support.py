"""
The simulated Heat's tests' helpers: requests to it as pure transitions,
what it shows and lists, and an assertion on its error bodies.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

from twisted.trial.unittest import SynchronousTestCase

from otter2.cloud.request import Response, ServiceType
from otter2.model.group import thaw_json
from otter2.simulation import Behaviour, SimulatedCloud
from tests.simulation.support import START, call

HEAT = ServiceType.ORCHESTRATION
TEMPLATE = {"heat_template_version": "2015-10-15", "description": "one secret",
            "resources": {"secret": {"type": "OS::Heat::RandomString"}}}
FAILING = {"heat_template_version": "2016-10-14",
           "resources": {"nothing": {"type": "OS::Heat::None"},
                         "broken": {"type": "OS::Heat::TestResource",
                                    "properties": {"fail": True}}}}
FAILURE = "ValueError: resources.broken: Test Resource failed broken"
SLOW = Behaviour(stack_time=30)


def heat(cloud: SimulatedCloud, method: str, path: str, now: float = START,
         params: tuple[tuple[str, str], ...] = (), json: Any = None,
         tenant_id: str = "t1") -> tuple[SimulatedCloud, Response]:
    """The cloud after one Heat request, and Heat's answer."""
    return call(cloud, HEAT, method, path, now, params, json, tenant_id)


def new_stack(cloud: SimulatedCloud, name: str = "s", now: float = START,
              tenant_id: str = "t1", **fields: Any) -> tuple[SimulatedCloud, str]:
    """The cloud with one more stack, and its id."""
    body = {"stack_name": name, "template": TEMPLATE, **fields}
    cloud, response = heat(cloud, "POST", "stacks", now, json=body, tenant_id=tenant_id)
    assert response.status == 201, response
    return cloud, response.body["stack"]["id"]


def shown(cloud: SimulatedCloud, name: str, stack_id: str, now: float = START) -> dict:
    """A stack as ``GET stacks/{name}/{id}`` shows it."""
    response = heat(cloud, "GET", f"stacks/{name}/{stack_id}", now)[1]
    assert response.status == 200, response
    stack: dict = thaw_json(response.body)["stack"]
    return stack


def status(cloud: SimulatedCloud, name: str, stack_id: str, now: float = START) -> str:
    """A stack's ACTION_STATUS at ``now``."""
    result: str = shown(cloud, name, stack_id, now)["stack_status"]
    return result


def listed(cloud: SimulatedCloud, *params: tuple[str, str], now: float = START) -> list[dict]:
    """The stacks of ``GET stacks``."""
    response = heat(cloud, "GET", "stacks", now, params)[1]
    assert response.status == 200, response
    stacks: list[dict] = thaw_json(response.body)["stacks"]
    return stacks


def list_all(cloud: SimulatedCloud, limit: int, *params: tuple[str, str],
             now: float = START) -> list[str]:
    """Every listed stack id, following next links page by page."""
    ids: list[str] = []
    query: tuple[tuple[str, str], ...] = (*params, ("limit", str(limit)))
    for _ in range(1000):
        page = heat(cloud, "GET", "stacks", now, query)[1]
        ids.extend(s["id"] for s in page.body["stacks"])
        links = page.body.get("links", [])
        if not links:
            return ids
        query = tuple(parse_qsl(urlsplit(links[0]["href"]).query))
    raise AssertionError("the listing never ends")


class HeatErrorAssertions(SynchronousTestCase):
    """Test cases that look at Heat's error bodies."""

    def assertHeatError(self, response: Response, code: int, kind: str) -> str:
        """The message of a Heat error body of that status and type."""
        self.assertEqual(response.status, code, response.body)
        body = thaw_json(response.body)
        self.assertEqual(set(body), {"explanation", "code", "error", "title"})
        self.assertEqual(body["code"], code)
        self.assertEqual((body["error"]["type"], body["error"]["traceback"]), (kind, None))
        message: str = body["error"]["message"]
        return message
