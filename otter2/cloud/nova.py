"""
Cloud Servers (Nova): the requests otter2 makes, the server JSON read into
`ObservedServer` values, and what each answer means for a step (spec §1.3,
§3.3, §3.4).

test-case-name: tests.cloud.test_nova
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from pyrsistent import PMap, freeze, thaw

from otter2.cloud.messages import (
    CLOUD_SERVERS,
    describe,
    fault_message,
    path,
    retry_after,
    unrecognised_outcome,
)
from otter2.cloud.metadata import desired_lbs_of, group_id_of, is_draining
from otter2.cloud.request import ONLY_401, Response, ServiceRequest, ServiceType
from otter2.model.cloud import ObservedServer, ServerState
from otter2.model.outcome import StepOutcome, Verdict

PAGE_SIZE = 100
FIRST_PAGE = (("limit", str(PAGE_SIZE)),)

# -- requests ------------------------------------------------------------------


def _request(tenant_id: str, method: str, relative: str, **kwargs: Any) -> ServiceRequest:
    return ServiceRequest(tenant_id, ServiceType.CLOUD_SERVERS, method, relative, **kwargs)


def name_server(server_config: Mapping[str, Any], suffix: str) -> PMap:
    """
    The create-server body with its name made unique: ``<name>-as<suffix>``,
    or ``as<suffix>`` when the configuration names no server.
    """
    config: dict[str, Any] = dict(thaw(server_config))
    server = config.setdefault("server", {})
    name = server.get("name") or ""
    server["name"] = f"{name}-as{suffix}" if name else f"as{suffix}"
    return freeze(config)


def create_server_request(tenant_id: str, server_config: Mapping[str, Any]) -> ServiceRequest:
    """``POST servers`` with the (already named) create-server body."""
    return _request(tenant_id, "POST", "servers", json=server_config, reauth_codes=ONLY_401)


def delete_server_request(tenant_id: str, server_id: str) -> ServiceRequest:
    """``DELETE servers/{id}``."""
    return _request(tenant_id, "DELETE", path("servers", server_id))


def get_server_request(tenant_id: str, server_id: str) -> ServiceRequest:
    """``GET servers/{id}``."""
    return _request(tenant_id, "GET", path("servers", server_id))


def set_metadata_item_request(tenant_id: str, server_id: str, key: str,
                              value: str) -> ServiceRequest:
    """``PUT servers/{id}/metadata/{key}`` with ``{"meta": {key: value}}``."""
    return _request(tenant_id, "PUT", path("servers", server_id, "metadata", key),
                    json={"meta": {key: value}}, reauth_codes=ONLY_401)


def replace_metadata_request(tenant_id: str, server_id: str,
                             metadata: Mapping[str, str]) -> ServiceRequest:
    """``PUT servers/{id}/metadata`` with ``{"metadata": ...}``: all of it replaced."""
    return _request(tenant_id, "PUT", path("servers", server_id, "metadata"),
                    json={"metadata": dict(metadata)}, reauth_codes=ONLY_401)


def list_servers_request(tenant_id: str,
                         params: tuple[tuple[str, str], ...] = FIRST_PAGE) -> ServiceRequest:
    """``GET servers/detail``: the first page, or the page a next link names."""
    return _request(tenant_id, "GET", "servers/detail", params=params)


def get_image_request(tenant_id: str, image_id: str) -> ServiceRequest:
    """``GET images/{id}``."""
    return _request(tenant_id, "GET", path("images", image_id))


def get_flavor_request(tenant_id: str, flavor_id: str) -> ServiceRequest:
    """``GET flavors/{id}``."""
    return _request(tenant_id, "GET", path("flavors", flavor_id))


def get_limits_request(tenant_id: str) -> ServiceRequest:
    """``GET limits``: the tenant's rate and absolute limits."""
    return _request(tenant_id, "GET", "limits")


# -- parsing -------------------------------------------------------------------


def image_is_active(body: Any) -> bool:
    """Whether a ``GET images/{id}`` answer shows its image ACTIVE, ready to build
    servers from (not SAVING, ERROR...)."""
    image = (body or {}).get("image") or {}
    return image.get("status") == "ACTIVE"


def absolute_limits(body: Any) -> Mapping[str, Any]:
    """The ``absolute`` limits of a ``GET limits`` answer (``maxPersonality``...), or
    none."""
    return ((body or {}).get("limits") or {}).get("absolute") or {}


def epoch(timestamp: str) -> float:
    """Seconds since the epoch of an ISO 8601 time (UTC when it names no zone)."""
    return _epoch_of_text(timestamp) if type(timestamp) is str else _epoch(timestamp)


@lru_cache(maxsize=4096)  # a listing shows many servers created in the same second
def _epoch_of_text(timestamp: str) -> float:
    return _epoch(timestamp)


def _epoch(timestamp: str) -> float:
    moment = datetime.fromisoformat(timestamp.strip())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _state(server: Mapping[str, Any]) -> ServerState:
    if (server.get("OS-EXT-STS:task_state") or "").strip().lower() == "deleting":
        return ServerState.DELETED
    try:
        return _STATES[server.get("status")]
    except (KeyError, TypeError):  # not a status, or not even text
        return ServerState.UNKNOWN_TO_OTTER


_STATES: dict[Any, ServerState] = {state.value: state for state in ServerState}


def _is_ipv4(address: Mapping[str, Any]) -> bool:
    if "version" in address:
        return bool(address["version"] == 4)
    try:
        return ipaddress.ip_address(address.get("addr", "")).version == 4
    except ValueError:
        return False


def servicenet_address(server: Mapping[str, Any]) -> str:
    """The first IPv4 address of ``addresses.private`` in 10/8, or ''."""
    for address in (server.get("addresses") or {}).get("private") or ():
        addr: str = address.get("addr", "")
        if _is_ipv4(address) and addr.startswith("10."):
            return addr
    return ""


def _id_of(reference: Any) -> str | None:
    if isinstance(reference, Mapping) and reference.get("id"):
        return str(reference["id"])
    return None


def parse_server(server: Mapping[str, Any]) -> ObservedServer:
    """
    A server of a Nova listing as an `ObservedServer`: a task state of
    ``deleting`` makes it DELETED; a status otter2 does not know is
    UNKNOWN_TO_OTTER; the load balancers and the draining marker come from
    its metadata (spec §1.2). The server is read as given (frozen or not):
    the value keeps its frozen parts instead of thawing and freezing them again.
    """
    metadata = server.get("metadata") or {}
    return ObservedServer(
        id=server["id"],
        state=_state(server),
        created=epoch(server["created"]),
        servicenet_address=servicenet_address(server),
        desired_lbs=desired_lbs_of(metadata),
        draining=is_draining(metadata),
        links=server.get("links") or [],
        image_id=_id_of(server.get("image")),
        flavor_id=_id_of(server.get("flavor")),
        metadata=metadata,
    )


def belongs_to(server: Mapping[str, Any], group_id: str) -> bool:
    """Whether a listed server's metadata makes it a member of the group."""
    return owner_of(server) == group_id


def owner_of(server: Mapping[str, Any]) -> str | None:
    """The id of the group a listed server's metadata makes it a member of, or None."""
    metadata = server.get("metadata")
    return group_id_of(metadata) if isinstance(metadata, Mapping) else None


def parse_server_page(body: Any) -> tuple[list[Any], str | None]:
    """
    The servers of one listing page and its ``rel=next`` link, if any. The
    page is read as given, not thawed: a tenant's listing can hold thousands
    of servers of other groups.
    """
    servers = body.get("servers") if isinstance(body, Mapping) else None
    if not isinstance(servers, Sequence) or isinstance(servers, str):
        raise ValueError("the listing has no list of servers")
    next_links = [link.get("href") for link in body.get("servers_links") or ()
                  if link.get("rel") == "next" and link.get("href")]
    return list(servers), (next_links[0] if next_links else None)


def next_page_params(href: str) -> tuple[tuple[str, str], ...]:
    """The query of a next link, as request parameters."""
    return tuple(parse_qsl(urlsplit(href).query, keep_blank_values=True))


# -- classification ------------------------------------------------------------

_QUOTA = re.compile(r"Quota exceeded for \S+: Requested \d+, but already used \d+ of \d+")
_ACCESS_DENIED = re.compile(r"Access was denied to this resource\.\s*(?P<message>.*)", re.S)
_NETWORK_MESSAGES = re.compile(
    r"^(Networks \([0-9a-fA-F,-]+\) not allowed"
    r"|Networks \([0-9a-fA-F,-]+\) required but missing"
    r"|Exactly \d+ isolated network\(s\) must be attached)")


def _rate_limited(response: Response) -> StepOutcome | None:
    if response.status == 413 and fault_message(response.body, "overLimit"):
        return StepOutcome(Verdict.RETRY, [describe(
            "Cloud Servers is limiting the rate of requests", response)],
            retry_after=retry_after(response))
    return None


def classify_create_server(response: Response) -> StepOutcome:
    """
    What Nova's answer to a create means: 202 is RETRY (wait for the server
    to build); an invalid launch configuration or a used-up quota is FAILURE
    with Nova's message; rate limits, faults and a 401 are RETRY.
    """
    if response.status == 202:
        body = thaw(response.body)
        server_id = _id_of(body.get("server")) if isinstance(body, dict) else None
        which = f"server {server_id}" if server_id else "a new server"
        return StepOutcome(Verdict.RETRY, [f"waiting for {which} to become active"], done=True)
    limited = _rate_limited(response)
    if limited is not None:
        return limited
    if response.status == 400 and fault_message(response.body, "badRequest"):
        return StepOutcome(Verdict.FAILURE, [
            "Server launch configuration is invalid: "
            + fault_message(response.body, "badRequest")])
    if response.status == 403:
        forbidden = fault_message(response.body, "forbidden")
        if _QUOTA.search(forbidden):
            return StepOutcome(Verdict.FAILURE, [f"Servers cannot be created: {forbidden}"])
        denied = (_ACCESS_DENIED.search(response.body)
                  if isinstance(response.body, str) else None)
        message = denied.group("message").strip() if denied else ""
        if _NETWORK_MESSAGES.match(message):
            return StepOutcome(Verdict.FAILURE, [
                f"Server launch configuration is invalid: {message}"])
    return unrecognised_outcome(CLOUD_SERVERS, "create a server", response)


def classify_delete_server(server_id: str, response: Response) -> StepOutcome:
    """
    What Nova's answer to a delete other than 204 means (a 204 is verified
    with a GET first): 404 is done; anything else is RETRY, never FAILURE.
    """
    if response.status == 404:
        return deleted(server_id)
    return unrecognised_outcome(CLOUD_SERVERS, f"delete server {server_id}", response,
                                client_error=Verdict.RETRY)


def deleted(server_id: str) -> StepOutcome:
    """A deletion Nova confirmed: RETRY, so that the next gather sees it gone."""
    return StepOutcome(Verdict.RETRY, [f"server {server_id} is deleted; looking again"],
                       done=True)


def is_gone(response: Response) -> bool:
    """
    Whether Nova's answer to ``GET servers/{id}`` says the server is gone: a
    404, a DELETED status or a ``deleting`` task state.
    """
    if response.status == 404:
        return True
    if response.status != 200 or not isinstance(response.body, Mapping):
        return False
    server = response.body.get("server")
    return isinstance(server, Mapping) and _state(server) is ServerState.DELETED


def classify_deletion_check(server_id: str, response: Response) -> StepOutcome:
    """
    What a GET after a 204 delete says: gone (`is_gone`) confirms it; a
    server in any other state is RETRY.
    """
    if is_gone(response):
        return deleted(server_id)
    if response.status == 200:
        server = thaw(response.body)
        server = server.get("server", {}) if isinstance(server, dict) else {}
        return StepOutcome(Verdict.RETRY, [
            f"Cloud Servers accepted the deletion of server {server_id} but still shows it "
            f"{server.get('status', 'present')} without a deleting task"])
    return unrecognised_outcome(CLOUD_SERVERS, f"confirm the deletion of server {server_id}",
                                response, client_error=Verdict.RETRY)


def classify_replace_metadata(server_id: str, response: Response) -> StepOutcome:
    """
    What Nova's answer to replacing a server's metadata means: 200 is
    SUCCESS; a vanished server or anything else is RETRY.
    """
    if response.status == 200:
        return StepOutcome(Verdict.SUCCESS, done=True)
    if response.status == 404 and fault_message(response.body, "itemNotFound"):
        return StepOutcome(Verdict.RETRY, [
            f"server {server_id} no longer exists, so its metadata cannot be rewritten"])
    return unrecognised_outcome(CLOUD_SERVERS, f"rewrite the metadata of server {server_id}",
                                response, client_error=Verdict.RETRY)


def classify_set_metadata_item(server_id: str, key: str, response: Response) -> StepOutcome:
    """
    What Nova's answer to a metadata write means: 200 is SUCCESS; anything
    else (a vanished server, too many metadata items...) is RETRY.
    """
    if response.status == 200:
        return StepOutcome(Verdict.SUCCESS, done=True)
    if response.status == 404 and fault_message(response.body, "itemNotFound"):
        return StepOutcome(Verdict.RETRY, [
            f"server {server_id} no longer exists, so {key} cannot be set on it"])
    return unrecognised_outcome(CLOUD_SERVERS, f"set {key} on server {server_id}", response,
                                client_error=Verdict.RETRY)

