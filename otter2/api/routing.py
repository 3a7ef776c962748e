"""
The API's route map: werkzeug's, remembering the routes it found.

Werkzeug matches a path by walking its rules' state machine, about 20 us a
request over the API's routes: as much as a tenth of the reactor's time
under a load of executions. A match is a pure function of the map and of
what the request gives it, and the same few paths are asked again and
again (a group's state, a policy's execute, a capability URL), so the map
remembers, up to `REMEMBERED` of them, the rule and arguments each found.
Only matches are remembered: a path that matches nothing, or not with its
method, or that redirects, is matched again each time, with werkzeug's
exception. Adding a rule forgets them all.

test-case-name: tests.api.test_routing
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from werkzeug.routing import Map, MapAdapter, Rule

# How many matches the map remembers; when full it forgets them all and
# starts again (a bound on memory for clients that ask ever new paths).
REMEMBERED = 10_000

_Key = tuple[str, str, str | None, str, str, str]


class RememberingMap(Map):
    """A `Map` whose adapters remember the routes they found (module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.found: dict[_Key, tuple[Rule, Mapping[str, Any]]] = {}
        super().__init__(*args, **kwargs)

    def add(self, rulefactory: Any) -> None:
        self.found.clear()
        super().add(rulefactory)

    def bind(self, *args: Any, **kwargs: Any) -> MapAdapter:
        adapter = super().bind(*args, **kwargs)
        adapter.__class__ = _RememberingAdapter
        return adapter


class _RememberingAdapter(MapAdapter):
    """werkzeug's adapter, remembering in its map what a plain match found."""

    map: RememberingMap

    def match(self, path_info: str | None = None, method: str | None = None,
              return_rule: bool = False, query_args: Any = None,
              websocket: bool | None = None) -> tuple[Any, Mapping[str, Any]]:
        if path_info is not None or method is not None or query_args is not None \
                or websocket is not None:
            plain: tuple[Any, Mapping[str, Any]] = super().match(  # type: ignore[call-overload]
                path_info, method, return_rule, query_args, websocket)
            return plain
        key = (self.server_name, self.script_name, self.subdomain, self.url_scheme,
               self.path_info, self.default_method)
        found = self.map.found.get(key)
        if found is None:
            found = super().match(return_rule=True)
            if len(self.map.found) >= REMEMBERED:
                self.map.found.clear()
            self.map.found[key] = found
        rule, arguments = found
        return (rule if return_rule else rule.endpoint), dict(arguments)
