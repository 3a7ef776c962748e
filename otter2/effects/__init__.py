"""
Performers: the only code that touches network, disk or clock.

test-case-name: tests.effects.test_dispatcher
"""

from otter2.effects.courtesy import Courtesy
from otter2.effects.dispatcher import make_dispatcher
from otter2.effects.http import Authenticator, StaticAuthenticator, perform_service_request

__all__ = ["Authenticator", "Courtesy", "StaticAuthenticator", "make_dispatcher", "perform_service_request"]
