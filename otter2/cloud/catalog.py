"""
Finding a service's endpoint in a tenant's service catalog (spec §6).

test-case-name: tests.effects.test_http
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from otter2.cloud.request import NoSuchEndpoint

Catalog = Sequence[Mapping[str, Any]]  # Identity's serviceCatalog: [{name, type, endpoints}]


def public_endpoint_url(catalog: Catalog, service_name: str, region: str | None) -> str:
    """
    The ``publicURL`` of the first service named ``service_name``: its first
    endpoint in ``region`` (any region when None). `NoSuchEndpoint` otherwise.
    """
    for service in catalog:
        if service.get("name") != service_name:
            continue
        for endpoint in service.get("endpoints") or ():
            if (region is None or endpoint.get("region") == region) \
                    and endpoint.get("publicURL"):
                return str(endpoint["publicURL"])
        break
    raise NoSuchEndpoint(service_name, region)
